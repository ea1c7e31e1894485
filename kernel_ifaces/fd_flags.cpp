#include "kernel_ifaces/fd_flags.h"

#include <fcntl.h>

namespace vnet {

Result<void> set_nonblocking(int fd, const std::string& what) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno_error("O_NONBLOCK on " + what);
  return {};
}

}  // namespace vnet
