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

/* Driving a vhost-vdpa device's rings (the vDPA self-test). */
int vnet_vhost_set_owner(int fd);
int vnet_vhost_set_features(int fd, uint64_t features);
int vnet_vhost_get_backend_features(int fd, uint64_t* features);
int vnet_vhost_set_backend_features(int fd, uint64_t features);
int vnet_vhost_vdpa_get_vring_num(int fd, uint16_t* num);
int vnet_vhost_vdpa_get_status(int fd, uint8_t* status);
int vnet_vhost_vdpa_set_status(int fd, uint8_t status);
int vnet_vhost_set_vring_num(int fd, unsigned index, unsigned num);
int vnet_vhost_set_vring_base(int fd, unsigned index, unsigned base);
int vnet_vhost_set_vring_addr(int fd, unsigned index, uint64_t desc, uint64_t avail, uint64_t used);
int vnet_vhost_set_vring_kick(int fd, unsigned index, int eventfd);
int vnet_vhost_set_vring_call(int fd, unsigned index, int eventfd);
int vnet_vhost_vdpa_set_vring_enable(int fd, unsigned index, unsigned enable);
/* An IOTLB update (map iova..iova+size-1 to uaddr, read-write) or
 * invalidation, as a vhost_msg_v2 written to the fd. */
int vnet_vhost_iotlb_update(int fd, uint64_t iova, uint64_t size, uint64_t uaddr);
int vnet_vhost_iotlb_invalidate(int fd, uint64_t iova, uint64_t size);

extern const uint64_t vnet_vhost_backend_f_iotlb_msg_v2;
extern const uint64_t vnet_virtio_f_version_1;
extern const uint64_t vnet_virtio_f_access_platform;

#ifdef __cplusplus
}
#endif
