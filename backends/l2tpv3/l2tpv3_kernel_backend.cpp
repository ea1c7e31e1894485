#include "backends/l2tpv3/l2tpv3_kernel_backend.h"

#include <net/if.h>

#include <cerrno>

#include "backends/l2tpv3/l2tpv3_backend.h"
#include "kernel_ifaces/log.h"

namespace vnet::l2tpv3 {

namespace {

l2tp::Tunnel tunnel_for(const Layout& layout, const Endpoints& endpoints) {
  l2tp::Tunnel tunnel;
  tunnel.udp = layout.udp;
  tunnel.local = endpoints.src;
  tunnel.peer = endpoints.dst;
  return tunnel;
}

}  // namespace

Result<std::unique_ptr<L2tpv3KernelBackend>> L2tpv3KernelBackend::create(const qapi::NetdevL2TPv3Options& options,
                                                                         const Layout& layout, Env env,
                                                                         std::optional<uint32_t> restored_tunnel) {
  auto endpoints = resolve_endpoints(layout, options);
  if (!endpoints) return endpoints.take_error();
  std::unique_ptr<L2tpv3KernelBackend> backend(new L2tpv3KernelBackend(options, layout, env));
  bool adopted = false;
  if (restored_tunnel) {
    auto kept = backend->adopt(*restored_tunnel, *endpoints);
    if (!kept) return kept.take_error();
    adopted = *kept;
  }
  if (!adopted) {
    if (auto made = backend->make_tunnel(*endpoints); !made) return made.take_error();
  }
  if (auto ready = backend->ready_device(); !ready) return ready.take_error();
  return backend;
}

// The recorded tunnel, if the kernel has it with this session as
// configured.
Result<bool> L2tpv3KernelBackend::adopt(uint32_t tunnel_id, const Endpoints& endpoints) {
  auto genl = env_.tunnels.family();
  if (!genl) return genl.take_error();
  auto tunnel = (*genl)->tunnel(tunnel_id);
  if (!tunnel) return tunnel.take_error();
  if (!*tunnel) return false;
  env_.tunnels.note_in_use(tunnel_id);
  const l2tp::Tunnel wanted = tunnel_for(layout_, endpoints);
  auto session = (*genl)->session(tunnel_id, layout_.rx_session);
  if (!session) return session.take_error();
  const l2tp::Session want = kernel_session(layout_, tunnel_id);
  bool same = (*tunnel)->udp == wanted.udp && l2tp::same_endpoint((*tunnel)->local, wanted.local, wanted.udp) &&
              l2tp::same_endpoint((*tunnel)->peer, wanted.peer, wanted.udp) && *session &&
              (*session)->session.peer_id == want.peer_id && (*session)->session.cookie == want.cookie &&
              (*session)->session.peer_cookie == want.peer_cookie && !(*session)->session.ifname.empty();
  if (!same) {
    // Not ours (another vnetd or `ip l2tp` took the id since): left alone.
    log::warning("l2tpv3: tunnel " + std::to_string(tunnel_id) + " is not the one recorded: a new one is made");
    return false;
  }
  tunnel_id_ = tunnel_id;
  ifname_ = (*session)->session.ifname;
  adopted_ = true;
  return true;
}

Result<void> L2tpv3KernelBackend::make_tunnel(const Endpoints& endpoints) {
  auto made = env_.tunnels.create_tunnel(tunnel_for(layout_, endpoints));
  if (!made) return made.take_error();
  tunnel_id_ = *made;
  auto genl = env_.tunnels.family();
  auto fail = [this](Error error) -> Result<void> {
    (void)env_.tunnels.delete_tunnel(tunnel_id_);
    tunnel_id_ = 0;
    return error;
  };
  if (auto created = (*genl)->create_session(kernel_session(layout_, tunnel_id_)); !created) {
    return fail(created.take_error());
  }
  auto session = (*genl)->session(tunnel_id_, layout_.rx_session);
  if (!session) return fail(session.take_error());
  if (!*session || (*session)->session.ifname.empty()) {
    return fail(Error{ENODEV, "the kernel made session " + std::to_string(layout_.rx_session) + " with no device"});
  }
  ifname_ = (*session)->session.ifname;
  return {};
}

// The host has no part in the device: nothing from the tunnel into its
// stack (the sink, before the link is up), no IPv6 of its own.
Result<void> L2tpv3KernelBackend::ready_device() {
  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0) return Error::from_errno(errno, "l2tpv3: the session's device \"" + ifname_ + "\"");
  auto sink = ebpf::HostSink::attach(ifindex_, ifname_, "");
  if (!sink) return sink.take_error("l2tpv3: keeping the host's stack off \"" + ifname_ + "\"");
  sink_ = std::move(*sink);
  if (auto ready = rtnl::up_without_host_ipv6(env_.rtnl, ifindex_, ifname_); !ready) {
    return ready.take_error("l2tpv3: bringing \"" + ifname_ + "\" up");
  }
  return {};
}

L2tpv3KernelBackend::~L2tpv3KernelBackend() {
  host_side_.reset();
  if (keep_) {
    sink_.release();
    return;
  }
  if (tunnel_id_ == 0) return;
  // The device goes with the tunnel, and the sink with the device.
  sink_.release();
  if (auto deleted = env_.tunnels.delete_tunnel(tunnel_id_); !deleted) {
    log::warning("l2tpv3: deleting tunnel " + std::to_string(tunnel_id_) + ": " + deleted.error().message);
  }
}

Result<void> L2tpv3KernelBackend::peer_connected(Backend& peer) {
  auto host_side = nic::HostSidePort::open(env_.frames, ifindex_, [&peer](std::span<const uint8_t> frame) {
    (void)peer.send_from_guest(frame);
  });
  if (!host_side) return host_side.take_error("l2tpv3: joining \"" + ifname_ + "\" to its peer");
  host_side_ = std::move(*host_side);
  // A hub whose other ports are kernel devices forwards through it.
  Backend::KernelPath path;
  path.ifindex = ifindex_;
  path.host_side_socket = host_side_->socket_fd();
  peer.peer_kernel_path_ready(path);
  return {};
}

void L2tpv3KernelBackend::peer_disconnected(Backend& peer) {
  if (host_side_) peer.peer_kernel_path_gone();
  host_side_.reset();
}

// Out of the device: the kernel puts it in the tunnel.
Result<void> L2tpv3KernelBackend::send_from_guest(std::span<const uint8_t> frame) {
  if (!host_side_) return Error{ENOTCONN, "l2tpv3 \"" + ifname_ + "\": not joined to a peer"};
  host_side_->send_to_guest(frame);
  return {};
}

Result<void> L2tpv3KernelBackend::set_link(bool up) {
  rtnl::LinkChange change;
  change.up = up;
  return env_.rtnl.change_link(ifindex_, change);
}

std::vector<Detail> L2tpv3KernelBackend::details() const {
  std::vector<Detail> out{{"path", std::string("kernel")}};
  for (auto& detail : layout_details(layout_, options_)) out.push_back(std::move(detail));
  out.push_back({"tunnel-id", int64_t{tunnel_id_}});
  out.push_back({"ifname", ifname_});
  out.push_back({"ifindex", int64_t{ifindex_}});
  // The kernel's counts of the session: every frame, whichever path moved it.
  auto genl = env_.tunnels.family();
  auto state = genl ? (*genl)->session(tunnel_id_, layout_.rx_session) : genl.take_error();
  if (state && *state) {
    const auto& stats = (*state)->stats;
    out.push_back({"frames-in", static_cast<int64_t>(stats.rx_packets)});
    out.push_back({"bytes-in", static_cast<int64_t>(stats.rx_bytes)});
    out.push_back({"frames-out", static_cast<int64_t>(stats.tx_packets)});
    out.push_back({"bytes-out", static_cast<int64_t>(stats.tx_bytes)});
    out.push_back({"drops-cookie", static_cast<int64_t>(stats.rx_cookie_discards)});
    out.push_back({"rx-errors", static_cast<int64_t>(stats.rx_errors)});
    out.push_back({"tx-errors", static_cast<int64_t>(stats.tx_errors)});
  }
  if (host_side_) out.push_back({"host-side", host_side_->counters()});
  return out;
}

}  // namespace vnet::l2tpv3
