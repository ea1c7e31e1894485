#include "kernel_ifaces/result.h"

#include <cstring>

namespace vnet {

Error Error::from_errno(int errnum, const std::string& what) {
  return Error{errnum, what + ": " + std::strerror(errnum)};
}

}  // namespace vnet
