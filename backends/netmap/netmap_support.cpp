#include "backends/netmap/netmap_support.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vnet::netmap {

Error unsupported(const std::string& device) {
  const std::string prefix = "network backend 'netmap' is not available: ";
  if (access(device.c_str(), F_OK) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return Error{err, prefix + device + " does not exist: netmap needs the out-of-tree netmap kernel module, " +
                            "which stock Linux kernels do not have"};
    }
    return Error{err, prefix + device + " cannot be reached: " + std::strerror(err)};
  }
  return Error{EOPNOTSUPP, prefix + device + " exists, but this vnetd does not support netmap ports"};
}

}  // namespace vnet::netmap
