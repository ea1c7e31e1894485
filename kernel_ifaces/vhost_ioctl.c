#include "kernel_ifaces/vhost_ioctl.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

static int ok(int r) { return r < 0 ? -errno : 0; }

const uint64_t vnet_vhost_backend_f_iotlb_msg_v2 = 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2;
const uint64_t vnet_virtio_f_version_1 = 1ULL << VIRTIO_F_VERSION_1;
const uint64_t vnet_virtio_f_access_platform = 1ULL << VIRTIO_F_ACCESS_PLATFORM;

int vnet_vhost_set_owner(int fd) { return ok(ioctl(fd, VHOST_SET_OWNER)); }
int vnet_vhost_set_features(int fd, uint64_t features) { return ok(ioctl(fd, VHOST_SET_FEATURES, &features)); }
int vnet_vhost_get_backend_features(int fd, uint64_t* features) {
  return ok(ioctl(fd, VHOST_GET_BACKEND_FEATURES, features));
}
int vnet_vhost_set_backend_features(int fd, uint64_t features) {
  return ok(ioctl(fd, VHOST_SET_BACKEND_FEATURES, &features));
}
int vnet_vhost_vdpa_get_vring_num(int fd, uint16_t* num) { return ok(ioctl(fd, VHOST_VDPA_GET_VRING_NUM, num)); }
int vnet_vhost_vdpa_get_status(int fd, uint8_t* status) { return ok(ioctl(fd, VHOST_VDPA_GET_STATUS, status)); }
int vnet_vhost_vdpa_set_status(int fd, uint8_t status) { return ok(ioctl(fd, VHOST_VDPA_SET_STATUS, &status)); }
int vnet_vhost_set_vring_num(int fd, unsigned index, unsigned num) {
  struct vhost_vring_state state = {.index = index, .num = num};
  return ok(ioctl(fd, VHOST_SET_VRING_NUM, &state));
}
int vnet_vhost_set_vring_base(int fd, unsigned index, unsigned base) {
  struct vhost_vring_state state = {.index = index, .num = base};
  return ok(ioctl(fd, VHOST_SET_VRING_BASE, &state));
}
int vnet_vhost_set_vring_addr(int fd, unsigned index, uint64_t desc, uint64_t avail, uint64_t used) {
  struct vhost_vring_addr addr = {.index = index, .desc_user_addr = desc, .avail_user_addr = avail,
                                  .used_user_addr = used};
  return ok(ioctl(fd, VHOST_SET_VRING_ADDR, &addr));
}
int vnet_vhost_set_vring_kick(int fd, unsigned index, int eventfd) {
  struct vhost_vring_file file = {.index = index, .fd = eventfd};
  return ok(ioctl(fd, VHOST_SET_VRING_KICK, &file));
}
int vnet_vhost_set_vring_call(int fd, unsigned index, int eventfd) {
  struct vhost_vring_file file = {.index = index, .fd = eventfd};
  return ok(ioctl(fd, VHOST_SET_VRING_CALL, &file));
}
int vnet_vhost_vdpa_set_vring_enable(int fd, unsigned index, unsigned enable) {
  struct vhost_vring_state state = {.index = index, .num = enable};
  return ok(ioctl(fd, VHOST_VDPA_SET_VRING_ENABLE, &state));
}
static int iotlb_message(int fd, uint8_t type, uint64_t iova, uint64_t size, uint64_t uaddr) {
  struct vhost_msg_v2 msg;
  memset(&msg, 0, sizeof msg);
  msg.type = VHOST_IOTLB_MSG_V2;
  msg.iotlb.iova = iova;
  msg.iotlb.size = size;
  msg.iotlb.uaddr = uaddr;
  msg.iotlb.perm = VHOST_ACCESS_RW;
  msg.iotlb.type = type;
  ssize_t n = write(fd, &msg, sizeof msg);
  if (n < 0) return -errno;
  return n == (ssize_t)sizeof msg ? 0 : -EIO;
}
int vnet_vhost_iotlb_update(int fd, uint64_t iova, uint64_t size, uint64_t uaddr) {
  return iotlb_message(fd, VHOST_IOTLB_UPDATE, iova, size, uaddr);
}
int vnet_vhost_iotlb_invalidate(int fd, uint64_t iova, uint64_t size) {
  return iotlb_message(fd, VHOST_IOTLB_INVALIDATE, iova, size, 0);
}
