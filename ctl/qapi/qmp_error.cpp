#include "ctl/qapi/qmp_error.h"

namespace vnet {

std::string_view to_string(ErrorClass cls) {
  switch (cls) {
    case ErrorClass::GenericError: return "GenericError";
    case ErrorClass::CommandNotFound: return "CommandNotFound";
    case ErrorClass::DeviceNotFound: return "DeviceNotFound";
    case ErrorClass::DeviceNotActive: return "DeviceNotActive";
    case ErrorClass::KVMMissingCap: return "KVMMissingCap";
  }
  return "GenericError";
}

}  // namespace vnet
