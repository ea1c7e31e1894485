// vnetctl vdpa ... - vDPA bring-up from the command line, straight over the
// kernel's vdpa netlink family (no daemon needed). With -j the JSON is
// iproute2 `vdpa -j`'s, key for key, so scripts written for it keep working.
#pragma once

#include <string>
#include <vector>

namespace vnet::cli {

int vdpa_command(const std::vector<std::string>& words, bool json_output);

}  // namespace vnet::cli
