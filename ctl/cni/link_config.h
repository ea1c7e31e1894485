// link_config - the container side of an attachment over rtnetlink (libnl-3
// route), in the network namespace the calling thread is in (NetnsScope):
// the IPAM's addresses and routes put on the tap as the reference plugins'
// ipam.ConfigureIface() does, and what CHECK reads back.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctl/cni/cni_error.h"
#include "ctl/cni/cni_result.h"
#include "ctl/cni/ip_text.h"

struct nl_sock;

namespace vnet::cni {

struct LinkState {
  int ifindex = 0;
  std::string mac;  // lower case
  uint32_t mtu = 0;
  bool up = false;  // IFF_UP
};

struct RouteState {
  IpAddress dst;      // prefix 0 for a default route
  std::string gw;     // canonical text, "" when none
  uint32_t table = 0;
  int ifindex = 0;
};

// What CHECK compares with prevResult.
struct ObservedInterface {
  std::optional<LinkState> link;  // nullopt: no such interface
  std::vector<IpAddress> addresses;
  std::vector<RouteState> routes;  // every route of the namespace
};

class NamespaceRtnl {
 public:
  // An rtnetlink socket in the calling thread's namespace, with extended acks.
  static Expected<NamespaceRtnl> connect();

  Expected<std::optional<LinkState>> link(const std::string& name);
  // RTM_NEWADDR; IPv4 with its broadcast address (as `ip addr add ... brd +`),
  // IPv6 without duplicate address detection (IFA_F_NODAD), see link_config.cpp.
  Expected<void> add_address(int ifindex, const IpAddress& address);
  // RTM_NEWROUTE via the route's gw, else default_gw ("" for a device route).
  Expected<void> add_route(int ifindex, const Route& route, const std::string& default_gw);
  Expected<std::vector<IpAddress>> addresses(int ifindex);
  Expected<std::vector<RouteState>> routes();

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  struct KernelReason {
    std::string text;
  };
  NamespaceRtnl(nl_sock* sock) : sock_(sock), reason_(std::make_unique<KernelReason>()) {}
  CniError failure(int nl_err, const std::string& what);

  std::unique_ptr<nl_sock, SockDeleter> sock_;
  std::unique_ptr<KernelReason> reason_;  // the kernel's words with the last error
};

// ADD: in the namespace at netns, result's addresses whose "interface" is
// index go on ifname, then every route of result (a route without gw goes
// via the gateway of the first address of its family that has one, as
// ipam.ConfigureIface()).
Expected<void> configure_interface(const std::string& netns, const std::string& ifname, const SuccessResult& result,
                                   size_t index);

// CHECK: ifname, its addresses and the namespace's routes.
Expected<ObservedInterface> observe_interface(const std::string& netns, const std::string& ifname);

}  // namespace vnet::cni
