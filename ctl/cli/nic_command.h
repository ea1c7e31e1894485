// `vnetctl nic anti-spoof NAME on|off [--allow CIDR]... [--other allow|drop]`
// turned into set-anti-spoof's arguments (pure, so it is unit-tested).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"

namespace vnet::cli {

inline constexpr const char* kNicUsage =
    "usage: vnetctl nic anti-spoof NAME on [--allow CIDR]... [--other allow|drop] | nic anti-spoof NAME off";

// words: what follows "nic". The CIDR texts are passed on as given: vnetd
// checks them (one place says what is a prefix).
Result<nlohmann::ordered_json> anti_spoof_arguments(const std::vector<std::string>& words);

}  // namespace vnet::cli
