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

Result<std::unique_ptr<NicBackend>> NicBackend::create(NicIdentity identity, const std::string& pin_dir) {
  auto program = pin_dir.empty() ? ebpf::RxFilterProgram::load() : ebpf::RxFilterProgram::load_pinned(pin_dir);
  if (!program) return program.take_error();
  if (program.value()->adopted()) {
    // A restarted daemon: the guest's filter is in the maps, as it was.
    return std::unique_ptr<NicBackend>(new NicBackend(std::move(identity), std::move(program.value())));
  }
  // The state of a NIC whose guest driver has not programmed it yet.
  ebpf::RxFilterState fresh;
  fresh.main_mac = identity.mac;
  // A fresh virtio-net takes broadcasts (QEMU's nobcast is 0, which QEMU 7.2
  // reports as broadcast-allowed false; vnetd reports the meaning).
  fresh.broadcast_allowed = true;
  for (int vid = 0; vid < 4096; vid++) fresh.vlan_table.push_back(static_cast<uint16_t>(vid));
  if (auto applied = program.value()->apply(fresh); !applied) return applied.take_error();
  return std::unique_ptr<NicBackend>(new NicBackend(std::move(identity), std::move(program.value())));
}

NicBackend::~NicBackend() {
  if (keep_) return;  // filter, maps and pins stay for the next daemon
  // The tap outlives us: take our filter off it.
  if (attached_fd_ >= 0) (void)tun::set_filter_ebpf(attached_fd_, -1);
  program_->unpin();
}

Result<void> NicBackend::peer_connected(Backend& peer) {
  auto fd = peer.filter_attach_fd();
  if (!fd) return {};  // a peer without a tap: nothing in the kernel to filter
  if (auto attached = tun::set_filter_ebpf(*fd, program_->prog_fd()); !attached) return attached;
  attached_fd_ = *fd;
  return {};
}

// Called while both sides still exist (the registry tells before destroying),
// so the tap's fd is still open whichever side is going.
void NicBackend::peer_disconnected(Backend&) {
  filter_kept_ = false;
  if (keep_) return;
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
  return out;
}

}  // namespace vnet::nic
