#include "backends/nic/nic_backend.h"

#include <cstdio>

#include "kernel_ifaces/tun.h"

namespace vnet::nic {

std::optional<ebpf::Mac> parse_mac(const std::string& text) {
  ebpf::Mac mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; i++) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    unsigned value = 0;
    for (size_t k = 0; k < 2; k++) {
      char c = text[i * 3 + k];
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    mac[i] = static_cast<uint8_t>(value);
  }
  return mac;
}

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
  nic->anti_spoof_pin_dir_ = anti_spoof_pin_dir;
  return nic;
}

NicBackend::~NicBackend() {
  if (keep_) {
    // Filters, maps and pins stay for the next daemon.
    anti_spoof_filter_.release();
    return;
  }
  // The tap outlives us: take our filters off it.
  if (attached_fd_ >= 0) (void)tun::set_filter_ebpf(attached_fd_, -1);
  program_->unpin();
  drop_anti_spoof();
}

Result<void> NicBackend::set_anti_spoof(AntiSpoofSetting setting) {
  if (!setting.enabled) {
    // A filter in our place that we do not hold (a crash between attaching
    // it and recording the setting) goes too.
    if (peer_ifindex_ > 0 && restarted()) (void)ebpf::TcIngressFilter::detach(peer_ifindex_, anti_spoof_place());
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
  auto place = anti_spoof_place();
  place.replaces_cls_bpf = program.value()->adopted();
  auto filter = ebpf::TcIngressFilter::attach(peer_ifindex_, "ifindex " + std::to_string(peer_ifindex_),
                                              program.value()->prog_fd(), place);
  if (!filter) {
    unpin_unless_attached();
    return filter.take_error();
  }
  anti_spoof_program_ = std::move(program.value());
  anti_spoof_filter_ = std::move(filter.value());
  anti_spoof_ = std::move(setting);
  return {};
}

ebpf::TcIngressPlace NicBackend::anti_spoof_place() const {
  // The tcx link is pinned beside the program's maps, so that it goes with them.
  return {kAntiSpoofTcHandle, kAntiSpoofTcPriority,
          anti_spoof_pin_dir_.empty() ? "" : anti_spoof_pin_dir_ + "/" + kAntiSpoofLinkPin};
}

void NicBackend::drop_anti_spoof() {
  anti_spoof_filter_.reset();
  if (anti_spoof_program_) anti_spoof_program_->unpin();
  anti_spoof_program_.reset();
  anti_spoof_ = AntiSpoofSetting{};
}

Result<void> NicBackend::peer_connected(Backend& peer) {
  // A tap whose queues are all held by a VMM (after a restart) has no fd
  // for us but still an ifindex, which is all anti-spoofing needs.
  int ifindex = peer.guest_tx_ifindex();
  auto fd = peer.filter_attach_fd();
  if (fd) {
    if (auto attached = tun::set_filter_ebpf(*fd, program_->prog_fd()); !attached) return attached;
    attached_fd_ = *fd;
  }
  peer_ifindex_ = ifindex;
  if (auto setting = std::exchange(anti_spoof_on_peering_, std::nullopt)) {
    if (auto set = set_anti_spoof(std::move(*setting)); !set) {
      if (attached_fd_ >= 0) (void)tun::set_filter_ebpf(attached_fd_, -1);
      attached_fd_ = -1;
      peer_ifindex_ = 0;
      return Error{set.error().errnum, "anti-spoof: " + set.error().message};
    }
  }
  return {};
}

// Called while both sides still exist (the registry tells before destroying),
// so the tap's fd is still open whichever side is going.
void NicBackend::peer_disconnected(Backend&) {
  filter_kept_ = false;
  if (keep_) return;
  // The guest no longer sends through that tap: anti-spoofing ends with the pair.
  drop_anti_spoof();
  peer_ifindex_ = 0;
  if (attached_fd_ >= 0) (void)tun::set_filter_ebpf(attached_fd_, -1);
  attached_fd_ = -1;
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
  if (auto counted = program_->counters()) {
    out.push_back({"rx-filter-passed", static_cast<int64_t>(counted->passed)});
    out.push_back({"rx-filter-dropped", static_cast<int64_t>(counted->dropped)});
  }
  out.push_back({"anti-spoof", anti_spoof_.enabled});
  if (anti_spoof_.enabled) {
    out.push_back({"allowed-ips", anti_spoof_.allowed_texts});
    out.push_back({"other-ethertypes", std::string(anti_spoof_.drop_other ? "drop" : "allow")});
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
