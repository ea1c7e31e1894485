#include "kernel_ifaces/vhost.h"

#include <fcntl.h>

#include "kernel_ifaces/vhost_ioctl.h"

namespace vnet::vhost {

Result<UniqueFd> open_device(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return errno_error("opening " + path);
  return fd;
}

Result<uint64_t> get_features(int fd) {
  uint64_t features = 0;
  if (int err = vnet_vhost_get_features(fd, &features); err < 0) {
    return Error::from_errno(-err, "VHOST_GET_FEATURES on vhost fd " + std::to_string(fd));
  }
  return features;
}

Result<uint32_t> vdpa_device_id(int fd) {
  uint32_t id = 0;
  if (int err = vnet_vhost_vdpa_get_device_id(fd, &id); err < 0) {
    return Error::from_errno(-err, "VHOST_VDPA_GET_DEVICE_ID on fd " + std::to_string(fd));
  }
  return id;
}

Result<std::vector<uint8_t>> vdpa_config(int fd, uint32_t offset, uint32_t len) {
  std::vector<uint8_t> bytes(len);
  if (int err = vnet_vhost_vdpa_get_config(fd, offset, bytes.data(), len); err < 0) {
    return Error::from_errno(-err, "VHOST_VDPA_GET_CONFIG on fd " + std::to_string(fd));
  }
  return bytes;
}

}  // namespace vnet::vhost
