#include "ebpf/hub_forwarder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "ebpf/bpf_error.h"
#include "ebpf/bpf_links.h"
#include "ebpf/hub_forward.h"
#include "ebpf/pinned_maps.h"
#include "hub_forward.skel.h"

static_assert(vnet::ebpf::HubForwarder::kMaxPorts == HUB_FORWARD_MAX_PORTS);
static_assert(HUB_FORWARD_MAX_PORTS <= 64, "slots are bits of one word");

namespace vnet::ebpf {

namespace {

constexpr const char* kLinkPinPrefix = "link_";

size_t state_mapping_size() {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (sizeof(hub_state) + page - 1) / page * page;
}

}  // namespace

Result<std::unique_ptr<HubForwarder>> HubForwarder::load(const std::string& pin_dir) {
  hub_forward* skeleton = hub_forward__open();
  if (!skeleton) return bpf_error(errno, "opening the hub_forward BPF object");
  std::unique_ptr<HubForwarder> forwarder(new HubForwarder(skeleton));
  if (auto pinned = forwarder->pin_or_adopt(pin_dir); !pinned) return pinned.take_error();
  void* mapped = mmap(nullptr, state_mapping_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
                      bpf_map__fd(skeleton->maps.state), 0);
  if (mapped == MAP_FAILED) return errno_error("mapping the hub_forward state map");
  forwarder->state_ = static_cast<hub_state*>(mapped);
  if (forwarder->adopted_) {
    // The ports the last daemon left, each with its counters' slot: theirs
    // again when their NICs are restored.
    const hub_state& state = *forwarder->state_;
    uint32_t gen = state.active_gen & 1;
    for (uint32_t i = 0; i < state.port_count[gen] && i < kMaxPorts; i++) {
      const hub_port& listed = state.ports[gen][i];
      if (listed.slot >= kMaxPorts || forwarder->used_slots_ & (uint64_t{1} << listed.slot)) continue;
      Port port;
      port.slot = listed.slot;
      port.claimed = false;
      port.host_facing = listed.flags & HUB_PORT_HOST_FACING;
      forwarder->used_slots_ |= uint64_t{1} << listed.slot;
      forwarder->ports_.emplace(static_cast<int>(listed.ifindex), std::move(port));
    }
  }
  return forwarder;
}

Result<void> HubForwarder::pin_or_adopt(const std::string& pin_dir) {
  pin_dir_ = pin_dir;
  bpf_map* maps[] = {skeleton_->maps.state, skeleton_->maps.handoff, skeleton_->maps.counters};
  if (!pin_dir.empty()) {
    if (mkdir(pin_dir.c_str(), 0700) < 0 && errno != EEXIST) return errno_error("mkdir " + pin_dir);
    auto adopted = reuse_pinned_maps(pin_dir, maps);
    if (!adopted) return adopted.take_error();
    adopted_ = *adopted;
  }
  if (int err = hub_forward__load(skeleton_)) return bpf_error(err, "loading the hub_forward BPF program");
  if (pin_dir.empty() || adopted_) return {};
  return pin_maps(pin_dir, maps);
}

HubForwarder::~HubForwarder() {
  if (keep_) {
    // Links stay by their pins, maps by theirs.
    for (auto& [ifindex, port] : ports_) port.filter.release();
  } else {
    while (!ports_.empty()) (void)remove_port(ports_.begin()->first);
    if (!pin_dir_.empty()) remove_pins(pin_dir_);
  }
  if (state_) munmap(state_, state_mapping_size());
  hub_forward__destroy(skeleton_);
}

TcIngressPlace HubForwarder::place(int ifindex, bool host_facing) const {
  std::string pin = pin_dir_.empty() ? "" : pin_dir_ + "/" + kLinkPinPrefix + std::to_string(ifindex);
  return {kHubForwardTcHandle, kHubForwardTcPriority, pin, false, true, host_facing};
}

Result<void> HubForwarder::add_port(int ifindex, int host_side_socket, bool host_facing,
                                    std::optional<Mac> only_unicast_to) {
  auto existing = ports_.find(ifindex);
  if (existing != ports_.end() && existing->second.claimed) return {};
  const bool adopting = existing != ports_.end();
  if (!adopting && ports_.size() >= kMaxPorts) {
    return Error{ENOSPC, "a hub forwards at most " + std::to_string(kMaxPorts) + " taps in the kernel"};
  }
  Port port;
  port.host_facing = host_facing;
  port.only_unicast_to = only_unicast_to;
  if (adopting) {
    port.slot = existing->second.slot;
  } else {
    port.slot = static_cast<uint32_t>(std::countr_one(used_slots_));
    // A slot used before holds its last port's counts.
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return bpf_error(cpus, "counting possible CPUs");
    std::vector<hub_port_counters> zeros(static_cast<size_t>(cpus));
    if (int err = bpf_map__update_elem(skeleton_->maps.counters, &port.slot, sizeof port.slot, zeros.data(),
                                       zeros.size() * sizeof(hub_port_counters), BPF_ANY)) {
      return bpf_error(err, "clearing a hub port's counters");
    }
  }
  // The socket filter first: from then on the socket's decision reaches
  // the tc program for every frame it sees.
  if (host_side_socket >= 0) {
    port.socket = UniqueFd(fcntl(host_side_socket, F_DUPFD_CLOEXEC, 0));
    if (!port.socket) return errno_error("duplicating ifindex " + std::to_string(ifindex) + "'s packet socket");
    int prog_fd = bpf_program__fd(skeleton_->progs.hub_socket_filter);
    if (setsockopt(port.socket.get(), SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof prog_fd) < 0) {
      return errno_error("attaching the hub's socket filter to ifindex " + std::to_string(ifindex) +
                         "'s packet socket");
    }
  }
  // An adopted port's pinned link gets this program in one step.
  bpf_program* program = host_facing ? skeleton_->progs.hub_forward_egress : skeleton_->progs.hub_forward;
  auto filter = TcIngressFilter::attach(ifindex, "ifindex " + std::to_string(ifindex), bpf_program__fd(program),
                                        place(ifindex, host_facing));
  if (!filter) {
    if (port.socket) (void)setsockopt(port.socket.get(), SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
    return filter.take_error();
  }
  port.filter = std::move(filter.value());
  used_slots_ |= uint64_t{1} << port.slot;
  ports_.insert_or_assign(ifindex, std::move(port));
  publish_ports();
  return {};
}

HubPortCounters HubForwarder::remove_port(int ifindex) {
  auto it = ports_.find(ifindex);
  if (it == ports_.end()) return {};
  HubPortCounters last = counters(ifindex);
  Port gone = std::move(it->second);
  ports_.erase(it);
  // Out of the list first, so no other port sends to it; then its programs.
  publish_ports();
  if (gone.filter) gone.filter.reset();
  else (void)TcIngressFilter::detach(ifindex, place(ifindex, gone.host_facing));  // adopted, never claimed: its pin
  if (gone.socket) (void)setsockopt(gone.socket.get(), SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
  used_slots_ &= ~(uint64_t{1} << gone.slot);
  return last;
}

void HubForwarder::set_port_unicast(int ifindex, std::optional<Mac> only_unicast_to) {
  auto it = ports_.find(ifindex);
  if (it == ports_.end() || it->second.only_unicast_to == only_unicast_to) return;
  it->second.only_unicast_to = only_unicast_to;
  publish_ports();
}

void HubForwarder::remove_unclaimed_ports() {
  std::vector<int> unclaimed;
  for (const auto& [ifindex, port] : ports_) {
    if (!port.claimed) unclaimed.push_back(ifindex);
  }
  for (int ifindex : unclaimed) (void)remove_port(ifindex);
}

void HubForwarder::remove_pins(const std::string& pin_dir) {
  std::error_code ec;
  for (const auto& pin : std::filesystem::directory_iterator(pin_dir, ec)) {
    if (pin.path().filename().string().rfind(kLinkPinPrefix, 0) == 0) detach_pinned_link(pin.path().string());
    else unlink(pin.path().c_str());
  }
  rmdir(pin_dir.c_str());
}

void HubForwarder::publish_ports() {
  uint32_t next = (__atomic_load_n(&state_->active_gen, __ATOMIC_RELAXED) & 1) ^ 1;
  uint32_t i = 0;
  for (const auto& [ifindex, port] : ports_) {
    hub_port& listed = state_->ports[next][i];
    listed.ifindex = static_cast<uint32_t>(ifindex);
    listed.slot = port.slot;
    listed.flags = (port.host_facing ? HUB_PORT_HOST_FACING : 0) | (port.only_unicast_to ? HUB_PORT_ONE_UNICAST : 0);
    if (port.only_unicast_to) std::copy(port.only_unicast_to->begin(), port.only_unicast_to->end(), listed.unicast_mac);
    i++;
  }
  state_->port_count[next] = i;
  __atomic_store_n(&state_->active_gen, next, __ATOMIC_RELEASE);
}

void HubForwarder::set_kernel(bool kernel) {
  __atomic_store_n(&state_->forwarding_kernel, kernel ? 1u : 0u, __ATOMIC_RELEASE);
}

bool HubForwarder::kernel() const { return __atomic_load_n(&state_->forwarding_kernel, __ATOMIC_ACQUIRE); }

HubPortCounters HubForwarder::counters(int ifindex) const {
  HubPortCounters out;
  auto it = ports_.find(ifindex);
  if (it == ports_.end()) return out;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return out;
  std::vector<hub_port_counters> per_cpu(static_cast<size_t>(cpus));
  uint32_t slot = it->second.slot;
  if (bpf_map__lookup_elem(skeleton_->maps.counters, &slot, sizeof slot, per_cpu.data(),
                           per_cpu.size() * sizeof(hub_port_counters), 0) != 0) {
    return out;
  }
  for (const auto& c : per_cpu) out += HubPortCounters{c.frames_in, c.bytes_in, c.frames_out, c.drops};
  return out;
}

}  // namespace vnet::ebpf
