#include "ctl/cni/cni_error.h"

namespace vnet::cni {

nlohmann::ordered_json error_json(const CniError& error, const std::string& cni_version) {
  nlohmann::ordered_json out = {{"cniVersion", cni_version}, {"code", error.code}, {"msg", error.msg}};
  if (!error.details.empty()) out["details"] = error.details;
  return out;
}

}  // namespace vnet::cni
