// ethtool - the one ethtool query vnetd needs: a device's driver name.
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::ethtool {

// ETHTOOL_GDRVINFO: "tun", "veth", "virtio_net", "bridge", ...
Result<std::string> driver_name(const std::string& ifname);

}  // namespace vnet::ethtool
