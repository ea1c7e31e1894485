#include "kernel_ifaces/l2tp_genl.h"

#include <linux/l2tp.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace vnet::l2tp {

namespace {

using Attrs = std::array<nlattr*, L2TP_ATTR_MAX + 1>;

constexpr uint8_t kProtocolVersion3 = 3;

Result<void> transact(netlink::GenlSocket& socket, uint8_t command, const netlink::GenlSocket::Fill& fill,
                      const std::function<void(const Attrs&)>& on_reply, const std::string& what) {
  auto parse = [&on_reply](nlmsghdr* header) {
    Attrs tb{};
    if (genlmsg_parse(header, 0, tb.data(), L2TP_ATTR_MAX, nullptr) < 0) return;
    on_reply(tb);
  };
  return socket.transact(command, false, fill, on_reply ? parse : netlink::GenlSocket::Handler{}, what);
}

std::string tunnel_name(uint32_t id) { return "tunnel " + std::to_string(id); }

void put_address(nl_msg* msg, const sockaddr_storage& address, bool local) {
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    nla_put(msg, local ? L2TP_ATTR_IP6_SADDR : L2TP_ATTR_IP6_DADDR, sizeof in6.sin6_addr, &in6.sin6_addr);
  } else {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    nla_put(msg, local ? L2TP_ATTR_IP_SADDR : L2TP_ATTR_IP_DADDR, sizeof in.sin_addr, &in.sin_addr);
  }
}

uint16_t port_of(const sockaddr_storage& address) {
  return ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(address).sin6_port
                                             : reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

// The kernel's view back into a sockaddr (family from which attribute came).
void read_address(const Attrs& tb, bool local, uint16_t port, sockaddr_storage& out) {
  nlattr* v4 = tb[local ? L2TP_ATTR_IP_SADDR : L2TP_ATTR_IP_DADDR];
  nlattr* v6 = tb[local ? L2TP_ATTR_IP6_SADDR : L2TP_ATTR_IP6_DADDR];
  out = {};
  if (v6 && nla_len(v6) == sizeof(in6_addr)) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(out);
    in6.sin6_family = AF_INET6;
    nla_memcpy(&in6.sin6_addr, v6, sizeof in6.sin6_addr);
    in6.sin6_port = htons(port);
  } else if (v4 && nla_len(v4) == sizeof(in_addr)) {
    auto& in = reinterpret_cast<sockaddr_in&>(out);
    in.sin_family = AF_INET;
    nla_memcpy(&in.sin_addr, v4, sizeof in.sin_addr);
    in.sin_port = htons(port);
  }
}

std::vector<uint8_t> bytes(nlattr* attr) {
  if (!attr) return {};
  auto* data = static_cast<const uint8_t*>(nla_data(attr));
  return {data, data + nla_len(attr)};
}

SessionStats read_stats(nlattr* nested) {
  SessionStats stats;
  if (!nested) return stats;
  std::array<nlattr*, L2TP_ATTR_STATS_MAX + 1> tb{};
  if (nla_parse_nested(tb.data(), L2TP_ATTR_STATS_MAX, nested, nullptr) < 0) return stats;
  auto get = [&tb](int type) { return tb[type] ? nla_get_u64(tb[type]) : 0; };
  stats.tx_packets = get(L2TP_ATTR_TX_PACKETS);
  stats.tx_bytes = get(L2TP_ATTR_TX_BYTES);
  stats.tx_errors = get(L2TP_ATTR_TX_ERRORS);
  stats.rx_packets = get(L2TP_ATTR_RX_PACKETS);
  stats.rx_bytes = get(L2TP_ATTR_RX_BYTES);
  stats.rx_errors = get(L2TP_ATTR_RX_ERRORS);
  stats.rx_cookie_discards = get(L2TP_ATTR_RX_COOKIE_DISCARDS);
  stats.rx_seq_discards = get(L2TP_ATTR_RX_SEQ_DISCARDS);
  stats.rx_oos_packets = get(L2TP_ATTR_RX_OOS_PACKETS);
  stats.rx_invalid = get(L2TP_ATTR_RX_INVALID);
  return stats;
}

}  // namespace

Result<Genl> Genl::connect() {
  auto socket = netlink::GenlSocket::connect(L2TP_GENL_NAME, L2TP_GENL_VERSION);
  if (!socket) return socket.take_error();
  return Genl(std::move(*socket));
}

Result<void> Genl::create_tunnel(const Tunnel& tunnel) {
  auto fill = [&tunnel](nl_msg* msg) {
    nla_put_u32(msg, L2TP_ATTR_CONN_ID, tunnel.id);
    nla_put_u32(msg, L2TP_ATTR_PEER_CONN_ID, tunnel.peer_id);
    nla_put_u8(msg, L2TP_ATTR_PROTO_VERSION, kProtocolVersion3);
    nla_put_u16(msg, L2TP_ATTR_ENCAP_TYPE, tunnel.udp ? L2TP_ENCAPTYPE_UDP : L2TP_ENCAPTYPE_IP);
    put_address(msg, tunnel.local, true);
    put_address(msg, tunnel.peer, false);
    if (tunnel.udp) {
      nla_put_u16(msg, L2TP_ATTR_UDP_SPORT, port_of(tunnel.local));
      nla_put_u16(msg, L2TP_ATTR_UDP_DPORT, port_of(tunnel.peer));
      // Checksummed, as a userspace UDP socket's datagrams are (IPv6
      // always is).
      if (tunnel.local.ss_family == AF_INET) nla_put_u8(msg, L2TP_ATTR_UDP_CSUM, 1);
    }
  };
  return transact(socket_, L2TP_CMD_TUNNEL_CREATE, fill, {}, "L2TP_CMD_TUNNEL_CREATE of " + tunnel_name(tunnel.id));
}

Result<void> Genl::delete_tunnel(uint32_t id) {
  auto fill = [id](nl_msg* msg) { nla_put_u32(msg, L2TP_ATTR_CONN_ID, id); };
  return transact(socket_, L2TP_CMD_TUNNEL_DELETE, fill, {}, "L2TP_CMD_TUNNEL_DELETE of " + tunnel_name(id));
}

Result<std::optional<Tunnel>> Genl::tunnel(uint32_t id) {
  std::optional<Tunnel> found;
  auto fill = [id](nl_msg* msg) { nla_put_u32(msg, L2TP_ATTR_CONN_ID, id); };
  auto done = transact(
      socket_, L2TP_CMD_TUNNEL_GET, fill,
      [&found](const Attrs& tb) {
        Tunnel tunnel;
        tunnel.id = tb[L2TP_ATTR_CONN_ID] ? nla_get_u32(tb[L2TP_ATTR_CONN_ID]) : 0;
        tunnel.peer_id = tb[L2TP_ATTR_PEER_CONN_ID] ? nla_get_u32(tb[L2TP_ATTR_PEER_CONN_ID]) : 0;
        tunnel.udp = tb[L2TP_ATTR_ENCAP_TYPE] && nla_get_u16(tb[L2TP_ATTR_ENCAP_TYPE]) == L2TP_ENCAPTYPE_UDP;
        uint16_t sport = tb[L2TP_ATTR_UDP_SPORT] ? nla_get_u16(tb[L2TP_ATTR_UDP_SPORT]) : 0;
        uint16_t dport = tb[L2TP_ATTR_UDP_DPORT] ? nla_get_u16(tb[L2TP_ATTR_UDP_DPORT]) : 0;
        read_address(tb, true, sport, tunnel.local);
        read_address(tb, false, dport, tunnel.peer);
        found = tunnel;
      },
      "L2TP_CMD_TUNNEL_GET of " + tunnel_name(id));
  if (!done && done.error().errnum == ENODEV) return std::optional<Tunnel>{};
  if (!done) return done.take_error();
  return found;
}

Result<void> Genl::create_session(const Session& session) {
  auto fill = [&session](nl_msg* msg) {
    nla_put_u32(msg, L2TP_ATTR_CONN_ID, session.tunnel_id);
    nla_put_u32(msg, L2TP_ATTR_SESSION_ID, session.id);
    nla_put_u32(msg, L2TP_ATTR_PEER_SESSION_ID, session.peer_id);
    nla_put_u16(msg, L2TP_ATTR_PW_TYPE, L2TP_PWTYPE_ETH);
    nla_put_u8(msg, L2TP_ATTR_L2SPEC_TYPE, session.default_sublayer ? L2TP_L2SPECTYPE_DEFAULT : L2TP_L2SPECTYPE_NONE);
    if (!session.cookie.empty()) nla_put(msg, L2TP_ATTR_COOKIE, session.cookie.size(), session.cookie.data());
    if (!session.peer_cookie.empty()) {
      nla_put(msg, L2TP_ATTR_PEER_COOKIE, session.peer_cookie.size(), session.peer_cookie.data());
    }
    if (!session.ifname.empty()) nla_put_string(msg, L2TP_ATTR_IFNAME, session.ifname.c_str());
  };
  return transact(socket_, L2TP_CMD_SESSION_CREATE, fill, {},
                  "L2TP_CMD_SESSION_CREATE of session " + std::to_string(session.id) + " in " +
                      tunnel_name(session.tunnel_id));
}

Result<std::optional<SessionState>> Genl::session(uint32_t tunnel_id, uint32_t session_id) {
  std::optional<SessionState> found;
  auto fill = [&](nl_msg* msg) {
    nla_put_u32(msg, L2TP_ATTR_CONN_ID, tunnel_id);
    nla_put_u32(msg, L2TP_ATTR_SESSION_ID, session_id);
  };
  auto done = transact(
      socket_, L2TP_CMD_SESSION_GET, fill,
      [&](const Attrs& tb) {
        SessionState state;
        Session& session = state.session;
        session.tunnel_id = tunnel_id;
        session.id = tb[L2TP_ATTR_SESSION_ID] ? nla_get_u32(tb[L2TP_ATTR_SESSION_ID]) : 0;
        session.peer_id = tb[L2TP_ATTR_PEER_SESSION_ID] ? nla_get_u32(tb[L2TP_ATTR_PEER_SESSION_ID]) : 0;
        session.cookie = bytes(tb[L2TP_ATTR_COOKIE]);
        session.peer_cookie = bytes(tb[L2TP_ATTR_PEER_COOKIE]);
        if (tb[L2TP_ATTR_IFNAME]) session.ifname = nla_get_string(tb[L2TP_ATTR_IFNAME]);
        state.stats = read_stats(tb[L2TP_ATTR_STATS]);
        found = std::move(state);
      },
      "L2TP_CMD_SESSION_GET of session " + std::to_string(session_id) + " in " + tunnel_name(tunnel_id));
  if (!done && (done.error().errnum == ENOENT || done.error().errnum == ENODEV)) {
    return std::optional<SessionState>{};
  }
  if (!done) return done.take_error();
  return found;
}

bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b, bool with_port) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0 && (!with_port || x.sin6_port == y.sin6_port);
  }
  const auto& x = reinterpret_cast<const sockaddr_in&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in&>(b);
  return x.sin_addr.s_addr == y.sin_addr.s_addr && (!with_port || x.sin_port == y.sin_port);
}

}  // namespace vnet::l2tp
