// udev_event_from_env() - what `vnetctl udev` (RUN+= from udev/) hands the
// daemon as udev-event's arguments, read from udev's environment.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"

namespace vnet::cli {

// env(NAME) is the variable's value, "" when unset. An error when ACTION or
// SUBSYSTEM is missing, or a name vnetd would carry is not valid UTF-8 (vnetd
// leaves such devices alone); an IFINDEX that is not a small enough number is
// left out.
Result<nlohmann::ordered_json> udev_event_from_env(const std::function<std::string(const char* name)>& env);

}  // namespace vnet::cli
