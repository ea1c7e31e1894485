#include "kernel_ifaces/vhost_ioctl.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int vnet_vhost_get_features(int fd, uint64_t* features) {
  return ioctl(fd, VHOST_GET_FEATURES, features) < 0 ? -errno : 0;
}

int vnet_vhost_vdpa_get_device_id(int fd, uint32_t* device_id) {
  return ioctl(fd, VHOST_VDPA_GET_DEVICE_ID, device_id) < 0 ? -errno : 0;
}

int vnet_vhost_vdpa_get_config(int fd, uint32_t offset, uint8_t* buffer, uint32_t len) {
  struct vhost_vdpa_config* config = calloc(1, sizeof(*config) + len);
  if (!config) return -ENOMEM;
  config->off = offset;
  config->len = len;
  int r = ioctl(fd, VHOST_VDPA_GET_CONFIG, config) < 0 ? -errno : 0;
  if (r == 0) memcpy(buffer, config->buf, len);
  free(config);
  return r;
}
