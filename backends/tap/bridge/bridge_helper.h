// run_bridge_helper() - gets a tap fd from an external helper speaking
// qemu-bridge-helper's protocol: "HELPER --use-vnet --fd=N --br=BRIDGE",
// the fd coming back over the socketpair N as SCM_RIGHTS. `helper` is the
// program and the arguments it was given with (then without --use-vnet, as
// QEMU), already checked against the daemon's ProgramPolicy.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::bridge {

Result<UniqueFd> run_bridge_helper(const std::vector<std::string>& helper, const std::string& bridge,
                                   std::chrono::milliseconds timeout);

}  // namespace vnet::bridge
