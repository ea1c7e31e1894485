// What the kernel's own L2TPv3 (l2tp_eth) can carry of an l2tpv3 netdev,
// and the daemon's one handle on the kernel's l2tp family, with the tunnel
// ids it hands out. docs/netdev-types.md "l2tpv3 in the kernel" has the rules.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "backends/l2tpv3/l2tpv3_header.h"
#include "kernel_ifaces/l2tp_genl.h"
#include "kernel_ifaces/result.h"
#include "qapi_types.h"

namespace vnet::l2tpv3 {

// "" when the kernel can carry the layout as QEMU's wire has it; else why not.
std::string kernel_cannot_carry(const Layout& layout);

// The session as the kernel takes it: session ids, cookies as their wire
// bytes, the counter word as the default L2-specific sublayer.
l2tp::Session kernel_session(const Layout& layout, uint32_t tunnel_id);

// src or dst resolved as QEMU's net_init_l2tpv3() resolves it, in its
// words on failure. (QEMU binds its socket between the two: a userspace
// netdev resolves them one at a time, so a failure is the one QEMU names.)
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};
enum class End { src, dst };
Result<Endpoint> resolve_endpoint(const Layout& layout, const qapi::NetdevL2TPv3Options& options, End end);
struct Endpoints {
  sockaddr_storage src{};
  sockaddr_storage dst{};
};
Result<Endpoints> resolve_endpoints(const Layout& layout, const qapi::NetdevL2TPv3Options& options);

class KernelTunnels {
 public:
  // Tunnel ids vnetd gives out start here ("VN"): data packets carry no
  // tunnel id, so the id only has to be free on this host.
  static constexpr uint32_t kFirstTunnelId = 0x564e0001;

  // The family, connected on first use, and again after a failure (the
  // module may be there later).
  Result<l2tp::Genl*> family();
  // Makes the tunnel with the next free id (skipping ids in use) and
  // returns it.
  Result<uint32_t> create_tunnel(l2tp::Tunnel tunnel);
  // Deletes the tunnel with its sessions and devices, and waits (bounded)
  // until the kernel's work that does it has run: then its port is free and
  // its l2tpethN gone.
  Result<void> delete_tunnel(uint32_t id);
  // A restarted daemon's tunnel, re-adopted: new ids go past it.
  void note_in_use(uint32_t id);

 private:
  std::optional<l2tp::Genl> genl_;
  uint32_t next_id_ = kFirstTunnelId;
};

}  // namespace vnet::l2tpv3
