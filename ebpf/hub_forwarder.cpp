#include "ebpf/hub_forwarder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <bit>
#include <cerrno>
#include <vector>

#include "ebpf/bpf_error.h"
#include "ebpf/hub_forward.h"
#include "hub_forward.skel.h"

static_assert(vnet::ebpf::HubForwarder::kMaxPorts == HUB_FORWARD_MAX_PORTS);
static_assert(HUB_FORWARD_MAX_PORTS <= 64, "slots are bits of one word");

namespace vnet::ebpf {

Result<std::unique_ptr<HubForwarder>> HubForwarder::load() {
  hub_forward* skeleton = hub_forward__open_and_load();
  if (!skeleton) return bpf_error(errno, "loading the hub_forward BPF program");
  return std::unique_ptr<HubForwarder>(new HubForwarder(skeleton));
}

HubForwarder::~HubForwarder() {
  while (!ports_.empty()) (void)remove_port(ports_.begin()->first);
  hub_forward__destroy(skeleton_);
}

Result<void> HubForwarder::add_port(int ifindex, int host_side_socket) {
  if (ports_.count(ifindex)) return {};
  if (ports_.size() >= kMaxPorts) {
    return Error{ENOSPC, "a hub forwards at most " + std::to_string(kMaxPorts) + " taps in the kernel"};
  }
  Port port;
  port.slot = static_cast<uint32_t>(std::countr_one(used_slots_));
  // A slot used before holds its last port's counts.
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return bpf_error(cpus, "counting possible CPUs");
  std::vector<hub_port_counters> zeros(static_cast<size_t>(cpus));
  if (int err = bpf_map__update_elem(skeleton_->maps.counters, &port.slot, sizeof port.slot, zeros.data(),
                                     zeros.size() * sizeof(hub_port_counters), BPF_ANY)) {
    return bpf_error(err, "clearing a hub port's counters");
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
  TcIngressPlace place{kHubForwardTcHandle, kHubForwardTcPriority, "", false, true};
  auto filter = TcIngressFilter::attach(ifindex, "ifindex " + std::to_string(ifindex),
                                        bpf_program__fd(skeleton_->progs.hub_forward), place);
  if (!filter) {
    if (port.socket) (void)setsockopt(port.socket.get(), SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
    return filter.take_error();
  }
  port.filter = std::move(filter.value());
  used_slots_ |= uint64_t{1} << port.slot;
  ports_.emplace(ifindex, std::move(port));
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
  gone.filter.reset();
  if (gone.socket) (void)setsockopt(gone.socket.get(), SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
  used_slots_ &= ~(uint64_t{1} << gone.slot);
  return last;
}

void HubForwarder::publish_ports() {
  auto* data = skeleton_->bss;
  uint32_t next = __atomic_load_n(&data->active_gen, __ATOMIC_RELAXED) ^ 1;
  uint32_t i = 0;
  for (const auto& [ifindex, port] : ports_) {
    data->ports[next][i].ifindex = static_cast<uint32_t>(ifindex);
    data->ports[next][i].slot = port.slot;
    i++;
  }
  data->port_count[next] = i;
  __atomic_store_n(&data->active_gen, next, __ATOMIC_RELEASE);
}

void HubForwarder::set_kernel(bool kernel) {
  __atomic_store_n(&skeleton_->bss->forwarding_kernel, kernel ? 1u : 0u, __ATOMIC_RELEASE);
}

bool HubForwarder::kernel() const { return __atomic_load_n(&skeleton_->bss->forwarding_kernel, __ATOMIC_ACQUIRE); }

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
  for (const auto& c : per_cpu) {
    out.frames_in += c.frames_in;
    out.bytes_in += c.bytes_in;
    out.frames_out += c.frames_out;
    out.drops += c.drops;
  }
  return out;
}

}  // namespace vnet::ebpf
