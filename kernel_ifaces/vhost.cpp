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

}  // namespace vnet::vhost
