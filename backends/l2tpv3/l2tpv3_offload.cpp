#include "backends/l2tpv3/l2tpv3_offload.h"

#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace vnet::l2tpv3 {

namespace {

constexpr int kL2tpProtocol = 115;  // IPPROTO_L2TP
// Ids tried past one in use before giving up (another vnetd on the host, or
// tunnels of `ip l2tp`, took them).
constexpr int kTunnelIdTries = 64;
// The kernel deletes a tunnel in a work item after answering; it takes
// well under a millisecond.
constexpr int kDeleteWaitMs = 500;

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo() as QEMU asks it: family by ipv6=, datagram or raw L2TP.
int resolve(const Layout& layout, const std::string& host, const std::optional<std::string>& port,
            sockaddr_storage& out, socklen_t& length) {
  addrinfo hints{};
  hints.ai_family = layout.ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = layout.udp ? SOCK_DGRAM : SOCK_RAW;
  hints.ai_protocol = layout.udp ? 0 : kL2tpProtocol;
  addrinfo* found = nullptr;
  int result = getaddrinfo(host.c_str(), layout.udp && port ? port->c_str() : nullptr, &hints, &found);
  AddrInfo owned(found);
  if (result == 0 && !found) return EAI_NONAME;
  if (result != 0) return result;
  length = static_cast<socklen_t>(std::min<size_t>(found->ai_addrlen, sizeof out));
  std::memcpy(&out, found->ai_addr, length);
  return 0;
}

std::vector<uint8_t> cookie_bytes(const Layout& layout, uint64_t cookie) {
  if (!layout.cookie) return {};
  size_t size = layout.cookie64 ? 8 : 4;
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; i++) out[i] = static_cast<uint8_t>(cookie >> (8 * (size - 1 - i)));
  return out;
}

}  // namespace

std::string kernel_cannot_carry(const Layout& layout) {
  // Linux 4.16 dropped L2TP_ATTR_OFFSET: it takes the attribute and ignores it.
  if (layout.offset != 0) return "offset=" + std::to_string(layout.offset) + ": the kernel's L2TPv3 has no offset";
  // Session id 0 is reserved (RFC 3931 4.1): the kernel refuses it, and
  // QEMU does not.
  if (layout.rx_session == 0 || layout.tx_session == 0) return "session id 0: the kernel reserves it";
  return "";
}

l2tp::Session kernel_session(const Layout& layout, uint32_t tunnel_id) {
  l2tp::Session session;
  session.tunnel_id = tunnel_id;
  session.id = layout.rx_session;
  session.peer_id = layout.tx_session;
  session.cookie = cookie_bytes(layout, layout.tx_cookie);
  session.peer_cookie = cookie_bytes(layout, layout.rx_cookie);
  // The counter word is the default sublayer; the kernel sends it as 0,
  // as pincounter=on does, and reads no sequence from a peer's unless its
  // S bit is set (QEMU's counter never sets it below 2^30).
  session.default_sublayer = layout.counter;
  return session;
}

Result<Endpoint> resolve_endpoint(const Layout& layout, const qapi::NetdevL2TPv3Options& options, End end) {
  Endpoint endpoint;
  const bool src = end == End::src;
  if (int result = resolve(layout, src ? options.src : options.dst, src ? options.srcport : options.dstport,
                           endpoint.address, endpoint.length);
      result != 0) {
    return Error{EINVAL, std::string(src ? "could not resolve src, errno = " : "could not resolve dst, error = ") +
                             gai_strerror(result)};
  }
  return endpoint;
}

Result<Endpoints> resolve_endpoints(const Layout& layout, const qapi::NetdevL2TPv3Options& options) {
  auto src = resolve_endpoint(layout, options, End::src);
  if (!src) return src.take_error();
  auto dst = resolve_endpoint(layout, options, End::dst);
  if (!dst) return dst.take_error();
  return Endpoints{src->address, dst->address};
}

Result<l2tp::Genl*> KernelTunnels::family() {
  if (!genl_) {
    auto connected = l2tp::Genl::connect();
    if (!connected) return connected.take_error();
    genl_.emplace(std::move(*connected));
  }
  return &*genl_;
}

Result<uint32_t> KernelTunnels::create_tunnel(l2tp::Tunnel tunnel) {
  auto genl = family();
  if (!genl) return genl.take_error();
  for (int tries = 0;; tries++) {
    tunnel.id = next_id_++;
    if (next_id_ == 0) next_id_ = kFirstTunnelId;
    tunnel.peer_id = tunnel.id;
    auto created = (*genl)->create_tunnel(tunnel);
    if (created) return tunnel.id;
    if (created.error().errnum != EEXIST || tries + 1 == kTunnelIdTries) return created.take_error();
  }
}

Result<void> KernelTunnels::delete_tunnel(uint32_t id) {
  auto genl = family();
  if (!genl) return genl.take_error();
  if (auto deleted = (*genl)->delete_tunnel(id); !deleted) return deleted;
  for (int waited_ms = 0; waited_ms < kDeleteWaitMs; waited_ms++) {
    auto still = (*genl)->tunnel(id);
    if (!still) return still.take_error();
    if (!*still) return {};
    usleep(1000);
  }
  return Error{ETIMEDOUT, "tunnel " + std::to_string(id) + " still there " + std::to_string(kDeleteWaitMs) +
                              " ms after its deletion"};
}

void KernelTunnels::note_in_use(uint32_t id) {
  if (id >= next_id_) next_id_ = id + 1;
}

}  // namespace vnet::l2tpv3
