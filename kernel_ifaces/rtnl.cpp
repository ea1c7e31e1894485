#include "kernel_ifaces/rtnl.h"

#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/qdisc.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>

#include <cerrno>
#include <cstdio>

#include "kernel_ifaces/netlink_extack.h"

namespace vnet::rtnl {

namespace {

int errno_of(int nl_err) {
  switch (nl_err < 0 ? -nl_err : nl_err) {
    case NLE_OBJ_NOTFOUND: return ENODEV;
    case NLE_NODEV: return ENODEV;
    case NLE_EXIST: return EEXIST;
    case NLE_PERM: return EPERM;
    case NLE_BUSY: return EBUSY;
    case NLE_INVAL: return EINVAL;
    case NLE_NOMEM: return ENOMEM;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_RANGE: return ERANGE;
    case NLE_NOACCESS: return EACCES;
    case NLE_AGAIN: return EAGAIN;
    default: return EIO;
  }
}

struct LinkDeleter {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;

}  // namespace

Error nl_error(int nl_err, const std::string& what) {
  return Error{errno_of(nl_err), what + ": " + nl_geterror(nl_err)};
}

void Rtnl::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

namespace {

// The socket's error callback: keeps the kernel's reason, then lets libnl
// fail the call as it would (NL_STOP: the errno mapped to its code).
int keep_reason(sockaddr_nl*, nlmsgerr* err, void* arg) {
  static_cast<std::string*>(arg)->assign(netlink::extack_message(err));
  return NL_STOP;
}

}  // namespace

Result<Rtnl> Rtnl::connect() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Error{ENOMEM, "nl_socket_alloc"};
  Rtnl rtnl(sock);
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) return nl_error(err, "connecting to rtnetlink");
  if (auto asked = netlink::request_extended_acks(nl_socket_get_fd(sock), "the rtnetlink socket"); !asked) {
    return asked.take_error();
  }
  nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, keep_reason, &rtnl.reason_->text);
  return rtnl;
}

Error Rtnl::failure(int nl_err, const std::string& what) {
  Error error = nl_error(nl_err, what);
  if (!reason_->text.empty()) error.message += " (" + reason_->text + ")";
  reason_->text.clear();
  return error;
}

Result<Link> Rtnl::get(int ifindex, const char* name, const std::string& what) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_.get(), ifindex, name, &raw); err < 0) {
    return failure(err, "RTM_GETLINK of " + what);
  }
  LinkPtr link(raw);
  return from_libnl(raw);
}

Link Rtnl::from_libnl(rtnl_link* raw) {
  Link out;
  out.ifindex = rtnl_link_get_ifindex(raw);
  out.name = rtnl_link_get_name(raw) ? rtnl_link_get_name(raw) : "";
  out.flags = rtnl_link_get_flags(raw);
  out.mtu = rtnl_link_get_mtu(raw);
  out.master = rtnl_link_get_master(raw);
  const char* kind = rtnl_link_get_type(raw);
  out.kind = kind ? kind : "";
  out.tx_queues = rtnl_link_get_num_tx_queues(raw);
  out.operstate = rtnl_link_get_operstate(raw);
  if (nl_addr* address = rtnl_link_get_addr(raw); address && nl_addr_get_len(address) == 6) {
    char text[32];
    out.mac = nl_addr2str(address, text, sizeof text);
  }
  return out;
}

Result<std::vector<Link>> Rtnl::list_links() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw); err < 0) return failure(err, "RTM_GETLINK dump");
  std::unique_ptr<nl_cache, void (*)(nl_cache*)> cache(raw, nl_cache_free);
  std::vector<Link> links;
  for (nl_object* object = nl_cache_get_first(raw); object; object = nl_cache_get_next(object)) {
    links.push_back(from_libnl(reinterpret_cast<rtnl_link*>(object)));
  }
  return links;
}

Result<Link> Rtnl::get_link(const std::string& name) { return get(0, name.c_str(), "\"" + name + "\""); }

Result<Link> Rtnl::get_link(int ifindex) { return get(ifindex, nullptr, "ifindex " + std::to_string(ifindex)); }

Result<void> Rtnl::change_link(int ifindex, const LinkChange& change) {
  LinkPtr orig(rtnl_link_alloc());
  LinkPtr changes(rtnl_link_alloc());
  if (!orig || !changes) return Error{ENOMEM, "rtnl_link_alloc"};
  rtnl_link_set_ifindex(orig.get(), ifindex);
  if (change.up) {
    if (*change.up) rtnl_link_set_flags(changes.get(), IFF_UP);
    else rtnl_link_unset_flags(changes.get(), IFF_UP);
  }
  if (change.master) rtnl_link_set_master(changes.get(), *change.master);
  if (change.mtu) rtnl_link_set_mtu(changes.get(), *change.mtu);
  if (change.group) rtnl_link_set_group(changes.get(), *change.group);
  if (change.carrier) rtnl_link_set_carrier(changes.get(), *change.carrier ? 1 : 0);
  if (change.mac) {
    std::unique_ptr<nl_addr, decltype(&nl_addr_put)> address(nl_addr_build(AF_LLC, change.mac->data(), 6), nl_addr_put);
    if (!address) return Error{ENOMEM, "nl_addr_build"};
    rtnl_link_set_addr(changes.get(), address.get());
  }
  if (int err = rtnl_link_change(sock_.get(), orig.get(), changes.get(), 0); err < 0) {
    return failure(err, "RTM_SETLINK of ifindex " + std::to_string(ifindex));
  }
  return {};
}

namespace {

// nl_recvmsgs callback: IFLA_LINKINFO -> IFLA_INFO_DATA -> IFLA_TUN_*.
int parse_tun_info(nl_msg* msg, void* arg) {
  auto* out = static_cast<std::optional<TunInfo>*>(arg);
  nlattr* link[IFLA_MAX + 1];
  if (nlmsg_parse(nlmsg_hdr(msg), sizeof(ifinfomsg), link, IFLA_MAX, nullptr) < 0 || !link[IFLA_LINKINFO]) {
    return NL_SKIP;
  }
  nlattr* info[IFLA_INFO_MAX + 1];
  if (nla_parse_nested(info, IFLA_INFO_MAX, link[IFLA_LINKINFO], nullptr) < 0 || !info[IFLA_INFO_KIND] ||
      std::string(nla_get_string(info[IFLA_INFO_KIND])) != "tun" || !info[IFLA_INFO_DATA]) {
    return NL_SKIP;
  }
  nlattr* tun[IFLA_TUN_MAX + 1];
  if (nla_parse_nested(tun, IFLA_TUN_MAX, info[IFLA_INFO_DATA], nullptr) < 0) return NL_SKIP;
  TunInfo result;
  auto flag = [&tun](int attr) { return tun[attr] && nla_get_u8(tun[attr]); };
  result.tap = tun[IFLA_TUN_TYPE] && nla_get_u8(tun[IFLA_TUN_TYPE]) == IFF_TAP;
  result.multi_queue = flag(IFLA_TUN_MULTI_QUEUE);
  result.vnet_hdr = flag(IFLA_TUN_VNET_HDR);
  result.persist = flag(IFLA_TUN_PERSIST);
  result.num_queues = tun[IFLA_TUN_NUM_QUEUES] ? nla_get_u32(tun[IFLA_TUN_NUM_QUEUES]) : 0;
  *out = result;
  return NL_OK;
}

}  // namespace

Result<TunInfo> Rtnl::get_tun_info(int ifindex) {
  // libnl-route has no tun link type: the reply is parsed here, with its
  // attribute helpers.
  const std::string what = "RTM_GETLINK (tun info) of ifindex " + std::to_string(ifindex);
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_GETLINK, 0), nlmsg_free);
  if (!msg) return Error{ENOMEM, "nlmsg_alloc_simple"};
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  header.ifi_index = ifindex;
  if (nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0) return Error{ENOMEM, "building " + what};
  if (int err = nl_send_auto(sock_.get(), msg.get()); err < 0) return failure(err, what);
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> callbacks(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
  if (!callbacks) return Error{ENOMEM, "nl_cb_alloc"};
  std::optional<TunInfo> info;
  nl_cb_set(callbacks.get(), NL_CB_VALID, NL_CB_CUSTOM, parse_tun_info, &info);
  if (int err = nl_recvmsgs(sock_.get(), callbacks.get()); err < 0) return failure(err, what);
  // nl_send_auto() asked for an ack (libnl's auto-ack): it follows the reply.
  if (int err = nl_wait_for_ack(sock_.get()); err < 0) return failure(err, what);
  if (!info) return Error{EINVAL, "ifindex " + std::to_string(ifindex) + " is not a tun/tap device"};
  return *info;
}

Result<void> Rtnl::delete_link(int ifindex) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return Error{ENOMEM, "rtnl_link_alloc"};
  rtnl_link_set_ifindex(link.get(), ifindex);
  if (int err = rtnl_link_delete(sock_.get(), link.get()); err < 0) {
    return failure(err, "RTM_DELLINK of ifindex " + std::to_string(ifindex));
  }
  return {};
}

Result<void> Rtnl::delete_group(uint32_t group) {
  // libnl's delete request carries only an ifindex or a name, so the message
  // is built here with its attribute helpers.
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_DELLINK, 0), nlmsg_free);
  if (!msg) return Error{ENOMEM, "nlmsg_alloc_simple"};
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  if (nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), IFLA_GROUP, group) < 0) {
    return Error{ENOMEM, "building RTM_DELLINK"};
  }
  if (int err = nl_send_sync(sock_.get(), msg.release()); err < 0) {
    return failure(err, "RTM_DELLINK of ifgroup " + std::to_string(group));
  }
  return {};
}

Result<void> Rtnl::add_bridge(const std::string& name) {
  LinkPtr link(rtnl_link_bridge_alloc());
  if (!link) return Error{ENOMEM, "rtnl_link_bridge_alloc"};
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return failure(err, "RTM_NEWLINK of bridge \"" + name + "\"");
  }
  return {};
}

Result<void> Rtnl::set_root_qdisc(int ifindex, const std::string& kind) {
  std::unique_ptr<rtnl_qdisc, void (*)(rtnl_qdisc*)> qdisc(rtnl_qdisc_alloc(), rtnl_qdisc_put);
  if (!qdisc) return Error{ENOMEM, "rtnl_qdisc_alloc"};
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_ROOT);
  if (int err = rtnl_tc_set_kind(TC_CAST(qdisc.get()), kind.c_str()); err < 0) {
    return failure(err, "qdisc kind " + kind);
  }
  if (int err = rtnl_qdisc_add(sock_.get(), qdisc.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0) {
    return failure(err, "RTM_NEWQDISC " + kind + " on ifindex " + std::to_string(ifindex));
  }
  return {};
}

Result<void> up_without_host_ipv6(Rtnl& rtnl, int ifindex, const std::string& ifname) {
  if (FILE* knob = std::fopen(("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6").c_str(), "w")) {
    std::fputs("1", knob);
    std::fclose(knob);
  }
  LinkChange up;
  up.up = true;
  return rtnl.change_link(ifindex, up);
}

}  // namespace vnet::rtnl
