// vnetctl vdpa ... - vDPA bring-up from the command line, straight over the
// kernel's vdpa netlink family (no daemon needed). With -j the JSON is
// iproute2 `vdpa -j`'s, key for key, so scripts written for it keep working.
#pragma once

#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/vdpa_genl.h"

namespace vnet::cli {

// words: what follows "vdpa" on the command line. Returns the exit status.
int vdpa_command(const std::vector<std::string>& words, bool json_output);

// `name NAME mgmtdev M [mac X] [mtu N] [max_vqp N]`, as iproute2's vdpa dev add.
Result<vdpa::NewDevice> parse_dev_add(const std::vector<std::string>& args);

}  // namespace vnet::cli
