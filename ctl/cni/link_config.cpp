#include "ctl/cni/link_config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include <cctype>
#include <cstring>
#include <fstream>

#include "ctl/cni/netns_scope.h"
#include "kernel_ifaces/netlink_extack.h"
#include "kernel_ifaces/rtnl.h"

namespace vnet::cni {

namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* object) const { Free(object); }
};
using AddrPtr = std::unique_ptr<nl_addr, Freer<nl_addr, nl_addr_put>>;
using RtnlAddrPtr = std::unique_ptr<rtnl_addr, Freer<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Freer<rtnl_route, rtnl_route_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, Freer<rtnl_link, rtnl_link_put>>;
using CachePtr = std::unique_ptr<nl_cache, Freer<nl_cache, nl_cache_free>>;

int keep_reason(sockaddr_nl*, nlmsgerr* err, void* arg) {
  static_cast<std::string*>(arg)->assign(netlink::extack_message(err));
  return NL_STOP;
}

AddrPtr to_nl_addr(const IpAddress& address) {
  AddrPtr out(nl_addr_build(address.family, address.bytes.data(), address.size()));
  if (out) nl_addr_set_prefixlen(out.get(), static_cast<int>(address.prefix));
  return out;
}

IpAddress from_nl_addr(nl_addr* address, int family) {
  IpAddress out;
  out.family = family;
  size_t length = address ? nl_addr_get_len(address) : 0;
  if (address && length <= out.bytes.size()) std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(address), length);
  out.prefix = address ? static_cast<unsigned>(nl_addr_get_prefixlen(address)) : 0;
  return out;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// /proc/sys/net/... of the namespace the thread is in. An absent file
// (IPv6 compiled out, or the interface gone) reads as nullopt.
std::optional<std::string> read_sysctl(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  if (!in || !std::getline(in, value)) return std::nullopt;
  return value;
}

Expected<void> write_sysctl(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value << '\n';
  out.flush();
  if (!out) return fail(kAddressConfig, "could not write " + value + " to " + path);
  return {};
}

// IPv6 addresses need IPv6 on for the interface and lo (a namespace may be
// made with it off); keep_addr_on_down keeps them over a link flap. As
// ipam.ConfigureIface() does.
Expected<void> enable_ipv6(const std::string& ifname) {
  for (const std::string& name : {std::string("lo"), ifname}) {
    std::string path = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
    auto value = read_sysctl(path);
    if (!value || *value == "0") continue;
    if (auto written = write_sysctl(path, "0"); !written) return written;
  }
  return write_sysctl("/proc/sys/net/ipv6/conf/" + ifname + "/keep_addr_on_down", "1");
}

}  // namespace

void NamespaceRtnl::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

CniError NamespaceRtnl::failure(int nl_err, const std::string& what) {
  CniError error{kAddressConfig, rtnl::nl_error(nl_err, what).message, ""};
  if (!reason_->text.empty()) error.msg += " (" + reason_->text + ")";
  reason_->text.clear();
  return error;
}

Expected<NamespaceRtnl> NamespaceRtnl::connect() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return fail(kAddressConfig, "nl_socket_alloc: out of memory");
  NamespaceRtnl rtnl(sock);
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) {
    return tl::unexpected(rtnl.failure(err, "connecting to rtnetlink"));
  }
  if (auto asked = netlink::request_extended_acks(nl_socket_get_fd(sock), "the rtnetlink socket"); !asked) {
    return fail(kAddressConfig, asked.error().message);
  }
  nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, keep_reason, &rtnl.reason_->text);
  return rtnl;
}

Expected<std::optional<LinkState>> NamespaceRtnl::link(const std::string& name) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &raw); err < 0) {
    reason_->text.clear();
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return std::optional<LinkState>();
    return tl::unexpected(failure(err, "RTM_GETLINK of " + name));
  }
  LinkPtr link(raw);
  LinkState state;
  state.ifindex = rtnl_link_get_ifindex(raw);
  state.mtu = rtnl_link_get_mtu(raw);
  state.up = (rtnl_link_get_flags(raw) & IFF_UP) != 0;
  if (nl_addr* address = rtnl_link_get_addr(raw); address && nl_addr_get_len(address) == 6) {
    char text[32];
    state.mac = lower(nl_addr2str(address, text, sizeof text));
  }
  return std::optional<LinkState>(state);
}

Expected<void> NamespaceRtnl::add_address(int ifindex, const IpAddress& address) {
  RtnlAddrPtr addr(rtnl_addr_alloc());
  AddrPtr local = to_nl_addr(address);
  if (!addr || !local) return fail(kAddressConfig, "out of memory building RTM_NEWADDR");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), address.family);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return tl::unexpected(failure(err, "address " + format_ip(address, true)));
  }
  if (address.family == AF_INET && address.prefix < 31) {
    IpAddress broadcast = address;
    broadcast.prefix = 32;
    for (unsigned bit = address.prefix; bit < 32; bit++) broadcast.bytes[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    AddrPtr brd = to_nl_addr(broadcast);
    if (brd) rtnl_addr_set_broadcast(addr.get(), brd.get());
  }
  // Without DAD the address is usable at once: a tap's far side is a VMM's
  // queue, which may not read for a while, and the address came from IPAM,
  // which keeps it unique (the reference plugins instead wait up to 5 s for
  // DAD to settle).
  if (address.family == AF_INET6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  if (int err = rtnl_addr_add(sock_.get(), addr.get(), 0); err < 0) {
    return tl::unexpected(failure(err, "RTM_NEWADDR " + format_ip(address, true)));
  }
  return {};
}

Expected<void> NamespaceRtnl::add_route(int ifindex, const Route& route, const std::string& default_gw) {
  auto dst = parse_cidr(route.dst);
  if (!dst) return fail(kAddressConfig, "route dst " + route.dst + " is not in CIDR notation");
  std::string gw_text = route.gw.empty() ? default_gw : route.gw;
  RoutePtr msg(rtnl_route_alloc());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  AddrPtr dst_addr = to_nl_addr(*dst);
  if (!msg || !nh || !dst_addr) {
    if (nh) rtnl_route_nh_free(nh);
    return fail(kAddressConfig, "out of memory building RTM_NEWROUTE");
  }
  rtnl_route_set_family(msg.get(), static_cast<uint8_t>(dst->family));
  rtnl_route_set_dst(msg.get(), dst_addr.get());
  rtnl_route_set_table(msg.get(), route.table ? static_cast<uint32_t>(*route.table) : RT_TABLE_MAIN);
  // As `ip route add`: a route through a gateway reaches the universe, one
  // without is on the link, unless the result says.
  uint8_t scope = route.scope ? static_cast<uint8_t>(*route.scope)
                              : static_cast<uint8_t>(gw_text.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  rtnl_route_set_scope(msg.get(), scope);
  rtnl_route_set_protocol(msg.get(), RTPROT_BOOT);
  rtnl_route_set_type(msg.get(), RTN_UNICAST);
  if (route.priority) rtnl_route_set_priority(msg.get(), static_cast<uint32_t>(route.priority));
  if (route.mtu) rtnl_route_set_metric(msg.get(), RTAX_MTU, static_cast<uint32_t>(route.mtu));
  if (route.advmss) rtnl_route_set_metric(msg.get(), RTAX_ADVMSS, static_cast<uint32_t>(route.advmss));
  rtnl_route_nh_set_ifindex(nh, ifindex);
  if (!gw_text.empty()) {
    auto gw = parse_ip(gw_text);
    if (!gw || gw->family != dst->family) {
      rtnl_route_nh_free(nh);
      return fail(kAddressConfig, "route to " + route.dst + ": gateway " + gw_text + " is not of its family");
    }
    AddrPtr gw_addr = to_nl_addr(*gw);
    rtnl_route_nh_set_gateway(nh, gw_addr.get());
  }
  rtnl_route_add_nexthop(msg.get(), nh);  // the route owns nh from here
  if (int err = rtnl_route_add(sock_.get(), msg.get(), NLM_F_EXCL); err < 0) {
    std::string what = "RTM_NEWROUTE " + route.dst + (gw_text.empty() ? "" : " via " + gw_text);
    return tl::unexpected(failure(err, what));
  }
  return {};
}

Expected<std::vector<IpAddress>> NamespaceRtnl::addresses(int ifindex) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock_.get(), &raw); err < 0) {
    return tl::unexpected(failure(err, "RTM_GETADDR dump"));
  }
  CachePtr cache(raw);
  std::vector<IpAddress> out;
  for (nl_object* object = nl_cache_get_first(raw); object; object = nl_cache_get_next(object)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(object);
    if (rtnl_addr_get_ifindex(addr) != ifindex) continue;
    IpAddress seen = from_nl_addr(rtnl_addr_get_local(addr), rtnl_addr_get_family(addr));
    seen.prefix = static_cast<unsigned>(rtnl_addr_get_prefixlen(addr));
    out.push_back(seen);
  }
  return out;
}

Expected<std::vector<RouteState>> NamespaceRtnl::routes() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_.get(), AF_UNSPEC, 0, &raw); err < 0) {
    return tl::unexpected(failure(err, "RTM_GETROUTE dump"));
  }
  CachePtr cache(raw);
  std::vector<RouteState> out;
  for (nl_object* object = nl_cache_get_first(raw); object; object = nl_cache_get_next(object)) {
    auto* route = reinterpret_cast<rtnl_route*>(object);
    RouteState state;
    int family = rtnl_route_get_family(route);
    state.dst = from_nl_addr(rtnl_route_get_dst(route), family);
    state.table = rtnl_route_get_table(route);
    if (rtnl_route_get_nnexthops(route) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
      state.ifindex = rtnl_route_nh_get_ifindex(nh);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh); gw && nl_addr_get_len(gw) > 0) {
        IpAddress gw_address = from_nl_addr(gw, family);
        state.gw = format_ip(gw_address, false);
      }
    }
    out.push_back(state);
  }
  return out;
}

Expected<void> configure_interface(const std::string& netns, const std::string& ifname, const SuccessResult& result,
                                   size_t index) {
  auto scope = NetnsScope::enter(netns);
  if (!scope) return tl::unexpected(scope.error());
  auto rtnl = NamespaceRtnl::connect();
  if (!rtnl) return tl::unexpected(rtnl.error());
  auto link = rtnl->link(ifname);
  if (!link) return tl::unexpected(link.error());
  if (!*link) return fail(kAddressConfig, "no interface " + ifname + " in " + netns + " to put the addresses on");

  std::string gateway[2];  // the first IPv4 and IPv6 gateways, for routes without gw
  bool ipv6_on = false;
  for (const auto& ip : result.ips) {
    if (!ip.interface || *ip.interface != static_cast<int64_t>(index)) continue;
    auto address = parse_cidr(ip.address);
    if (!address) return fail(kAddressConfig, "address " + ip.address + " is not in CIDR notation");
    int slot = address->family == AF_INET ? 0 : 1;
    if (slot == 1 && !ipv6_on) {
      if (auto enabled = enable_ipv6(ifname); !enabled) return enabled;
      ipv6_on = true;
    }
    if (auto added = rtnl->add_address((*link)->ifindex, *address); !added) return added;
    if (gateway[slot].empty()) gateway[slot] = ip.gateway;
  }
  for (const auto& route : result.routes) {
    int slot = route.dst.find(':') == std::string::npos ? 0 : 1;
    if (auto added = rtnl->add_route((*link)->ifindex, route, gateway[slot]); !added) return added;
  }
  return {};
}

Expected<ObservedInterface> observe_interface(const std::string& netns, const std::string& ifname) {
  auto scope = NetnsScope::enter(netns);
  if (!scope) return tl::unexpected(scope.error());
  auto rtnl = NamespaceRtnl::connect();
  if (!rtnl) return tl::unexpected(rtnl.error());
  ObservedInterface out;
  auto link = rtnl->link(ifname);
  if (!link) return tl::unexpected(link.error());
  out.link = *link;
  if (!out.link) return out;
  auto addresses = rtnl->addresses(out.link->ifindex);
  if (!addresses) return tl::unexpected(addresses.error());
  out.addresses = std::move(*addresses);
  auto routes = rtnl->routes();
  if (!routes) return tl::unexpected(routes.error());
  out.routes = std::move(*routes);
  return out;
}

}  // namespace vnet::cni
