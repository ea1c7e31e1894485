#include "ctl/cli/udev_event.h"

#include "kernel_ifaces/utf8.h"

namespace vnet::cli {

Result<nlohmann::ordered_json> udev_event_from_env(const std::function<std::string(const char* name)>& env) {
  if (env("ACTION").empty() || env("SUBSYSTEM").empty()) {
    return Error{EINVAL, "udev: ACTION and SUBSYSTEM must be set (run by udev)"};
  }
  for (const char* name : {"ACTION", "SUBSYSTEM", "DEVPATH", "INTERFACE"}) {
    if (!valid_utf8(env(name))) {
      return Error{EINVAL, std::string("udev: ") + name + " is not valid UTF-8; vnetd leaves such devices alone"};
    }
  }
  nlohmann::ordered_json event{{"action", env("ACTION")}, {"subsystem", env("SUBSYSTEM")}};
  if (!env("DEVPATH").empty()) event["devpath"] = env("DEVPATH");
  if (!env("INTERFACE").empty()) event["interface"] = env("INTERFACE");
  // Digits only, and few enough for an int64 (stoll would throw past it).
  if (std::string ifindex = env("IFINDEX");
      !ifindex.empty() && ifindex.size() <= 18 && ifindex.find_first_not_of("0123456789") == std::string::npos) {
    event["ifindex"] = std::stoll(ifindex);
  }
  return event;
}

}  // namespace vnet::cli
