#include "backends/tap/bridge/bridge_attach.h"

namespace vnet::bridge {

Result<void> enslave_to_bridge(rtnl::Rtnl& rtnl, int ifindex, const std::string& bridge, const BridgeAcl& acl) {
  if (!acl.allows(bridge)) return Error{EACCES, "bridge \"" + bridge + "\": access denied by acl file"};
  auto br = rtnl.get_link(bridge);
  if (!br) return Error{br.error().errnum, "bridge \"" + bridge + "\" does not exist"};
  if (br->kind != "bridge") return Error{EINVAL, "\"" + bridge + "\" is not a bridge"};
  rtnl::LinkChange change;
  change.mtu = br->mtu;
  change.master = br->ifindex;
  change.up = true;
  return rtnl.change_link(ifindex, change);
}

}  // namespace vnet::bridge
