#include "backends/nic/nic_backend.h"

#include <cstdio>

#include "kernel_ifaces/log.h"
#include "kernel_ifaces/mac.h"
#include "kernel_ifaces/tun.h"

namespace vnet::nic {

std::optional<ebpf::Mac> parse_mac(const std::string& text) { return vnet::parse_mac(text); }

std::string format_mac(const ebpf::Mac& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

Result<std::unique_ptr<NicBackend>> NicBackend::create(NicIdentity identity, const std::string& pin_dir,
                                                      const std::string& anti_spoof_pin_dir) {
  auto program = pin_dir.empty() ? ebpf::RxFilterProgram::load() : ebpf::RxFilterProgram::load_pinned(pin_dir);
  if (!program) return program.take_error();
  if (program.value()->adopted()) {
    // A restarted daemon: the guest's filter is in the maps, as it was.
    std::unique_ptr<NicBackend> nic(new NicBackend(std::move(identity), std::move(program.value())));
    nic->pin_dir_ = pin_dir;
    nic->anti_spoof_pin_dir_ = anti_spoof_pin_dir;
    return nic;
  }
  // The state of a NIC whose guest driver has not programmed it yet.
  ebpf::RxFilterState fresh;
  fresh.main_mac = identity.mac;
  // A fresh virtio-net takes broadcasts (QEMU's nobcast is 0, which QEMU 7.2
  // reports as broadcast-allowed false; vnetd reports the meaning).
  fresh.broadcast_allowed = true;
  for (int vid = 0; vid < 4096; vid++) fresh.vlan_table.push_back(static_cast<uint16_t>(vid));
  if (auto applied = program.value()->apply(fresh); !applied) return applied.take_error();
  std::unique_ptr<NicBackend> nic(new NicBackend(std::move(identity), std::move(program.value())));
  nic->pin_dir_ = pin_dir;
  nic->anti_spoof_pin_dir_ = anti_spoof_pin_dir;
  return nic;
}

NicBackend::~NicBackend() {
  host_side_.reset();
  if (keep_) {
    // Filters, maps and pins stay for the next daemon.
    anti_spoof_filter_.release();
    anti_spoof_xdp_.release();
    host_sink_.release();
    return;
  }
  // The tap outlives us: take our filters off it (anti-spoofing first,
  // while the tap's namespace is still known).
  drop_anti_spoof();
  detach_filter();
  host_sink_.reset();
  program_->unpin();
}

void NicBackend::keep_on_exit() {
  keep_ = true;
  if (guest_tap_) guest_tap_->keep_on_exit();
}

void NicBackend::record_committed() {
  if (guest_tap_) guest_tap_->record_committed();
}

Result<void> NicBackend::give_guest_tap(std::unique_ptr<Backend> tap, datapath::FrameLoop& frames) {
  int ifindex = tap->guest_tx_ifindex();
  auto sink = ebpf::HostSink::attach(ifindex, "ifindex " + std::to_string(ifindex),
                                     pin_dir_.empty() ? "" : pin_dir_ + "/" + kHostSinkLinkPin);
  if (!sink) return sink.take_error();
  host_sink_ = std::move(sink.value());
  if (auto attached = attach_filter(*tap); !attached) return attached;
  guest_tap_ = std::move(tap);
  frames_ = &frames;
  return {};
}

// A tap whose queues are all held by a VMM (after a restart) has no fd
// for us but still an ifindex, which is all anti-spoofing needs.
Result<void> NicBackend::attach_filter(Backend& device) {
  if (auto fd = device.filter_attach_fd()) {
    if (auto attached = tun::set_filter_ebpf(*fd, program_->prog_fd()); !attached) return attached;
    attached_fd_ = *fd;
  }
  peer_ifindex_ = device.guest_tx_ifindex();
  if (auto foreign = device.guest_tx_foreign_device(); foreign && !peer_ifindex_) {
    peer_ifindex_ = foreign->ifindex;
    peer_netns_fd_ = foreign->netns_fd;
  }
  return {};
}

Result<std::optional<netns::ScopedNetns>> NicBackend::in_peer_namespace() const {
  if (peer_netns_fd_ < 0) return std::optional<netns::ScopedNetns>();
  auto inside = netns::ScopedNetns::enter(peer_netns_fd_, "the tap's network namespace");
  if (!inside) return inside.take_error();
  return std::optional<netns::ScopedNetns>(std::move(*inside));
}

void NicBackend::detach_filter() {
  if (attached_fd_ >= 0) (void)tun::set_filter_ebpf(attached_fd_, -1);
  attached_fd_ = -1;
  peer_ifindex_ = 0;
  peer_netns_fd_ = -1;
}

std::vector<BackendFd> NicBackend::fds() const { return guest_tap_ ? guest_tap_->fds() : std::vector<BackendFd>{}; }

Result<void> NicBackend::set_link(bool up) { return guest_tap_ ? guest_tap_->set_link(up) : Result<void>{}; }

Result<void> NicBackend::send_from_guest(std::span<const uint8_t> frame) {
  if (!host_side_) return Error{ENOTCONN, "the NIC's tap is not joined to a hub"};
  host_side_->send_to_guest(frame);
  return {};
}

namespace {

// A guest taking its own MAC only (Linux's virtio-net without extra
// addresses): a kernel hub offers it no one else's unicast frames.
std::optional<ebpf::Mac> one_unicast_address(const ebpf::RxFilterState& filter) {
  if (filter.promiscuous || filter.unicast != ebpf::RxMode::normal || filter.unicast_overflow ||
      !filter.unicast_table.empty()) {
    return std::nullopt;
  }
  return filter.main_mac;
}

}  // namespace

Result<void> NicBackend::set_rx_filter(const ebpf::RxFilterState& state) {
  if (auto applied = program_->apply(state); !applied) return applied;
  if (hub_peer_ && host_side_) hub_peer_->peer_kernel_path_ready(kernel_path(one_unicast_address(state)));
  return {};
}

Backend::KernelPath NicBackend::kernel_path(std::optional<ebpf::Mac> only_unicast_to) const {
  Backend::KernelPath path;
  path.ifindex = guest_tap_ ? guest_tap_->guest_tx_ifindex() : 0;
  path.host_side_socket = host_side_ ? host_side_->socket_fd() : -1;
  path.only_unicast_to = only_unicast_to;
  return path;
}

Result<void> NicBackend::set_anti_spoof(AntiSpoofSetting setting) {
  if (!setting.enabled) {
    // A filter in our place that we do not hold (a crash between attaching
    // it and recording the setting) goes too.
    auto inside = in_peer_namespace();
    if (!inside) return inside.take_error();
    if (peer_ifindex_ > 0 && restarted()) {
      (void)ebpf::TcIngressFilter::detach(peer_ifindex_, anti_spoof_place());
      ebpf::XdpLink::detach(anti_spoof_xdp_pin());
    }
    drop_anti_spoof();
    return {};
  }
  if (peer_ifindex_ <= 0) {
    return Error{ENODEV, "it has no tap peer: anti-spoofing acts on the tap the guest sends into"};
  }
  ebpf::AntiSpoofSettings settings{identity_.mac, setting.drop_other, setting.allowed};
  if (anti_spoof_program_) {
    if (auto applied = anti_spoof_program_->apply(settings); !applied) return applied;
    anti_spoof_ = std::move(setting);
    return {};
  }
  auto program = ebpf::AntiSpoofProgram::load(anti_spoof_pin_dir_);
  if (!program) return program.take_error();
  // Until attached, a failure leaves nothing: the program and its pins go.
  auto unpin_unless_attached = [&] { program.value()->unpin(); };
  if (auto applied = program.value()->apply(settings); !applied) {
    unpin_unless_attached();
    return applied;
  }
  if (auto attached = attach_anti_spoof(*program.value()); !attached) {
    unpin_unless_attached();
    return attached;
  }
  anti_spoof_program_ = std::move(program.value());
  anti_spoof_ = std::move(setting);
  return {};
}

// On tc ingress, where the host's stack or bridge takes the guest's frames
// in; on a tap of its own, whose frames vnetd's packet socket reads, on
// generic XDP, which runs before packet sockets (tc runs after them).
Result<void> NicBackend::attach_anti_spoof(ebpf::AntiSpoofProgram& program) {
  std::string ifname = "ifindex " + std::to_string(peer_ifindex_);
  auto inside = in_peer_namespace();
  if (!inside) return inside.take_error();
  if (guest_tap_) {
    auto link = ebpf::XdpLink::attach(peer_ifindex_, ifname, program.xdp_prog_fd(), anti_spoof_xdp_pin());
    if (!link) return link.take_error();
    anti_spoof_xdp_ = std::move(link.value());
    return {};
  }
  auto place = anti_spoof_place();
  place.replaces_cls_bpf = program.adopted();
  auto filter = ebpf::TcIngressFilter::attach(peer_ifindex_, ifname, program.prog_fd(), place);
  if (!filter) return filter.take_error();
  anti_spoof_filter_ = std::move(filter.value());
  return {};
}

std::string NicBackend::anti_spoof_xdp_pin() const {
  return anti_spoof_pin_dir_.empty() ? "" : anti_spoof_pin_dir_ + "/" + kAntiSpoofXdpLinkPin;
}

ebpf::TcIngressPlace NicBackend::anti_spoof_place() const {
  // The tcx link is pinned beside the program's maps, so that it goes with them.
  return {kAntiSpoofTcHandle, kAntiSpoofTcPriority,
          anti_spoof_pin_dir_.empty() ? "" : anti_spoof_pin_dir_ + "/" + kAntiSpoofLinkPin};
}

void NicBackend::drop_anti_spoof() {
  // A cls_bpf filter (kernels without tcx) is removed by ifindex, there.
  auto inside = in_peer_namespace();
  if (!inside) log::warning("anti-spoofing: " + inside.error().message);
  anti_spoof_filter_.reset();
  anti_spoof_xdp_.reset();
  if (anti_spoof_program_) anti_spoof_program_->unpin();
  anti_spoof_program_.reset();
  anti_spoof_ = AntiSpoofSetting{};
}

Result<void> NicBackend::peer_connected(Backend& peer) {
  // With a tap of its own, the filter is on it already; the peer is a hub port.
  if (!guest_tap_) {
    if (auto attached = attach_filter(peer); !attached) return attached;
  }
  if (auto setting = std::exchange(anti_spoof_on_peering_, std::nullopt)) {
    if (auto set = set_anti_spoof(std::move(*setting)); !set) {
      if (!guest_tap_) detach_filter();
      return Error{set.error().errnum, "anti-spoof: " + set.error().message};
    }
  }
  if (guest_tap_) {
    auto host_side = HostSidePort::open(*frames_, guest_tap_->guest_tx_ifindex(),
                                        [&peer](std::span<const uint8_t> frame) { (void)peer.send_from_guest(frame); });
    if (!host_side) return Error{host_side.error().errnum, "joining its tap to the hub: " + host_side.error().message};
    host_side_ = std::move(host_side.value());
    // The hub may forward its frames in the kernel (every port a tap).
    hub_peer_ = &peer;
    auto filter = program_->read();
    peer.peer_kernel_path_ready(kernel_path(filter ? one_unicast_address(*filter) : std::nullopt));
  }
  return {};
}

// Called while both sides still exist (the registry tells before destroying),
// so the tap's fd is still open whichever side is going.
void NicBackend::peer_disconnected(Backend& peer) {
  if (host_side_) peer.peer_kernel_path_gone();
  hub_peer_ = nullptr;
  host_side_.reset();
  // The guest still sends into a tap of its own: its filter and
  // anti-spoofing stay with it.
  if (guest_tap_) return;
  filter_kept_ = false;
  if (keep_) return;
  // The guest no longer sends through that tap: anti-spoofing ends with the pair.
  drop_anti_spoof();
  detach_filter();
}

std::vector<Detail> NicBackend::details() const {
  std::vector<Detail> out{{"macaddr", format_mac(identity_.mac)}, {"rx-filter-enforced", filter_enforced()}};
  if (!identity_.model.empty()) out.push_back({"model", identity_.model});
  if (!identity_.addr.empty()) out.push_back({"addr", identity_.addr});
  if (identity_.vectors) out.push_back({"vectors", int64_t{*identity_.vectors}});
  if (!announce_address_texts_.empty()) out.push_back({"announce-addresses", announce_address_texts_});
  if (!failover_pair_.empty()) {
    out.push_back({"failover-pair", failover_pair_});
    out.push_back({"standby-negotiated", standby_});
  }
  if (announce_frames_) {
    out.push_back({"announce-frames", static_cast<int64_t>(announce_frames_)});
    out.push_back({"announce-path", announce_path_});
  }
  if (guest_tap_) {
    // Its tap's facts (ifname, ifindex, queues, vhost...), as a tap netdev shows them.
    for (auto& detail : guest_tap_->details()) out.push_back(std::move(detail));
    out.push_back({"guest-tap", true});
    if (host_side_) out.push_back({"host-side", host_side_->counters()});
  }
  if (auto counted = program_->counters()) {
    out.push_back({"rx-filter-passed", static_cast<int64_t>(counted->passed)});
    out.push_back({"rx-filter-dropped", static_cast<int64_t>(counted->dropped)});
  }
  out.push_back({"anti-spoof", anti_spoof_.enabled});
  if (anti_spoof_.enabled) {
    out.push_back({"allowed-ips", anti_spoof_.allowed_texts});
    out.push_back({"other-ethertypes", std::string(anti_spoof_.drop_other ? "drop" : "allow")});
    out.push_back({"anti-spoof-hook", std::string(anti_spoof_xdp_ ? "xdp-generic" : "tc-ingress")});
  }
  if (anti_spoof_program_) {
    if (auto counted = anti_spoof_program_->counters()) {
      out.push_back({"spoof-drops", static_cast<int64_t>(counted->drops())});
      out.push_back({"spoof-drops-by-reason", std::map<std::string, int64_t>{
                                                  {"bad-mac", static_cast<int64_t>(counted->bad_mac)},
                                                  {"bad-arp", static_cast<int64_t>(counted->bad_arp)},
                                                  {"bad-ipv4", static_cast<int64_t>(counted->bad_ipv4)},
                                                  {"bad-ipv6", static_cast<int64_t>(counted->bad_ipv6)},
                                                  {"bad-na", static_cast<int64_t>(counted->bad_na)},
                                                  {"other", static_cast<int64_t>(counted->other)}}});
      out.push_back({"anti-spoof-passed", static_cast<int64_t>(counted->passed)});
    }
  }
  return out;
}

}  // namespace vnet::nic
