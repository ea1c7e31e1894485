// vnetctl vdpa selftest DEV [frames N] [timeout MS] - asks vnetd to run the
// vDPA self-test (QMP vdpa-selftest) and prints one line per queue pair.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"

namespace vnet::cli {

// args: what follows "selftest". Returns the QMP arguments.
Result<nlohmann::ordered_json> parse_selftest_args(const std::vector<std::string>& args);
// The text form of a vdpa-selftest result, one line per queue pair and a verdict.
std::string format_selftest(const nlohmann::ordered_json& result);
// Exit status: 0 when the test passed, 1 when it failed or could not run.
int vdpa_selftest_command(const std::string& socket_path, const std::vector<std::string>& args, bool json_output);

}  // namespace vnet::cli
