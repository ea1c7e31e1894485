// l2tp_genl - the kernel's "l2tp" generic-netlink family (<linux/l2tp.h>),
// for L2TPv3 Ethernet pseudowires: tunnels whose socket the kernel makes
// (as `ip l2tp add tunnel` does), their sessions with an l2tpethN device,
// and a session's counters. A failure carries the kernel's errno and the
// reason from its extended ack.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel_ifaces/genl_socket.h"
#include "kernel_ifaces/result.h"

namespace vnet::l2tp {

// An L2TPv3 tunnel: what carries its sessions' packets. The ids name it on
// this host only (data packets carry none), so any free pair does.
struct Tunnel {
  uint32_t id = 0;
  uint32_t peer_id = 0;
  bool udp = true;  // else straight over IP (protocol 115)
  // Both the same family; ports are used with UDP only.
  sockaddr_storage local{};
  sockaddr_storage peer{};
};

// An Ethernet pseudowire in a tunnel. cookie goes out in each packet;
// peer_cookie is required of each received one (0, 4 or 8 bytes each).
struct Session {
  uint32_t tunnel_id = 0;
  uint32_t id = 0;       // the session id received packets carry
  uint32_t peer_id = 0;  // the one sent packets carry
  std::vector<uint8_t> cookie;
  std::vector<uint8_t> peer_cookie;
  bool default_sublayer = false;  // the 4-byte L2-specific sublayer (RFC 3931 4.6)
  std::string ifname;             // "" lets the kernel name it l2tpethN
};

struct SessionStats {
  uint64_t tx_packets = 0, tx_bytes = 0, tx_errors = 0;
  uint64_t rx_packets = 0, rx_bytes = 0, rx_errors = 0;
  uint64_t rx_cookie_discards = 0, rx_seq_discards = 0, rx_oos_packets = 0, rx_invalid = 0;
};

// A session as the kernel reports it.
struct SessionState {
  Session session;
  SessionStats stats;
};

class Genl {
 public:
  // ENOENT: the kernel has no l2tp family (l2tp_netlink not loadable).
  static Result<Genl> connect();

  Result<void> create_tunnel(const Tunnel& tunnel);
  // Its sessions and their devices go with it (the kernel finishes that
  // after answering).
  Result<void> delete_tunnel(uint32_t id);
  // nullopt when there is no such tunnel.
  Result<std::optional<Tunnel>> tunnel(uint32_t id);
  Result<void> create_session(const Session& session);
  // nullopt when there is no such session.
  Result<std::optional<SessionState>> session(uint32_t tunnel_id, uint32_t session_id);

 private:
  explicit Genl(netlink::GenlSocket socket) : socket_(std::move(socket)) {}

  netlink::GenlSocket socket_;
};

// Whether two endpoints name the same address (and port).
bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b, bool with_port);

}  // namespace vnet::l2tp
