// fd_flags - file status flags of an fd (fcntl F_GETFL / F_SETFL).
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet {

// Adds O_NONBLOCK; what names the fd in the error ("the QMP listener").
Result<void> set_nonblocking(int fd, const std::string& what);

}  // namespace vnet
