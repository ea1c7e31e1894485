// rtnl - links over rtnetlink, through libnl-route-3: look up, bring up or
// down, enslave, set MTU, delete. One Rtnl per thread (libnl sockets are not
// thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"

struct nl_sock;
struct rtnl_link;

namespace vnet::rtnl {

struct Link {
  int ifindex = 0;
  std::string name;
  unsigned flags = 0;  // IFF_UP, IFF_RUNNING, ...
  unsigned mtu = 0;
  int master = 0;      // ifindex of the bridge it is enslaved to, or 0
  std::string kind;    // "bridge", "tun", "veth", ... ("" if none)
  unsigned tx_queues = 0;
  unsigned operstate = 0;  // IF_OPER_*
  std::string mac;         // "52:54:00:12:34:56"; "" for links without one
};

// What to change in one RTM_NEWLINK/SETLINK message.
struct LinkChange {
  std::optional<bool> up;
  std::optional<int> master;  // 0 removes the link from its bridge
  std::optional<unsigned> mtu;
  std::optional<uint32_t> group;  // IFLA_GROUP, the link's ifgroup
  std::optional<bool> carrier;    // IFLA_CARRIER (tun: as TUNSETCARRIER)
  std::optional<std::array<uint8_t, 6>> mac;  // IFLA_ADDRESS
};

// What tun reports of a tun/tap device in IFLA_LINKINFO (tun_fill_info()).
struct TunInfo {
  bool tap = false;          // IFLA_TUN_TYPE == IFF_TAP
  bool multi_queue = false;
  bool vnet_hdr = false;
  bool persist = false;
  uint32_t num_queues = 0;   // queues attached to open files now
};

class Rtnl {
 public:
  static Result<Rtnl> connect();

  Result<Link> get_link(const std::string& name);
  Result<Link> get_link(int ifindex);
  Result<std::vector<Link>> list_links();  // every link of the namespace, by ifindex
  Result<void> change_link(int ifindex, const LinkChange& change);
  Result<TunInfo> get_tun_info(int ifindex);
  Result<void> delete_link(int ifindex);
  // One RTM_DELLINK for every link in this ifgroup of the namespace: the
  // kernel unregisters them as one batch, paying its RCU waits once.
  Result<void> delete_group(uint32_t group);
  Result<void> add_bridge(const std::string& name);
  // RTM_NEWQDISC: replaces the link's root qdisc with one of this kind
  // ("noqueue", "pfifo_fast", ...), without options.
  Result<void> set_root_qdisc(int ifindex, const std::string& kind);

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  // What the kernel said with its last error: its reason (NETLINK_EXT_ACK),
  // written by the socket's error callback. On the heap: the callback keeps
  // its address while the Rtnl moves.
  struct KernelReason {
    std::string text;
  };
  explicit Rtnl(nl_sock* sock) : sock_(sock), reason_(std::make_unique<KernelReason>()) {}
  Result<Link> get(int ifindex, const char* name, const std::string& what);
  static Link from_libnl(rtnl_link* raw);
  // nl_error() with the kernel's reason, if it gave one, in parentheses.
  Error failure(int nl_err, const std::string& what);

  std::unique_ptr<nl_sock, SockDeleter> sock_;
  std::unique_ptr<KernelReason> reason_;
};

// libnl's error codes are not errnos; this maps the ones we meet back.
Error nl_error(int nl_err, const std::string& what);

// A device the host has no part in (a NIC's own tap, an l2tpethN): no
// IPv6 of its own (its router solicitations and MLD reports would leave
// through it), and the link up, as nobody else will bring it up.
Result<void> up_without_host_ipv6(Rtnl& rtnl, int ifindex, const std::string& ifname);

}  // namespace vnet::rtnl
