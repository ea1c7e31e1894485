/* vhost_ioctl - the vhost ioctls, compiled as C: <linux/vhost.h> pulls in
 * <linux/virtio_ring.h>, whose inline vring_init() is not valid C++.
 * Each returns 0 or -errno. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int vnet_vhost_get_features(int fd, uint64_t* features);
int vnet_vhost_vdpa_get_device_id(int fd, uint32_t* device_id);
/* VHOST_VDPA_GET_CONFIG: len bytes of the device's config space at offset. */
int vnet_vhost_vdpa_get_config(int fd, uint32_t offset, uint8_t* buffer, uint32_t len);

#ifdef __cplusplus
}
#endif
