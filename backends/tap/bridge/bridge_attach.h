// enslave_to_bridge() - puts a tap on a host bridge natively, the way
// qemu-bridge-helper does it but over rtnetlink and in one message: the
// bridge's MTU, the bridge as master, and the link up.
#pragma once

#include <string>

#include "backends/tap/bridge/bridge_acl.h"
#include "kernel_ifaces/rtnl.h"

namespace vnet::bridge {

Result<void> enslave_to_bridge(rtnl::Rtnl& rtnl, int ifindex, const std::string& bridge, const BridgeAcl& acl);

}  // namespace vnet::bridge
