// HubForwarder - one loaded hub_forward.bpf.c for one hub whose ports are
// kernel devices (NICs' own taps): each port's tc ingress repeats what its
// guest sends to every other port's tap, in the kernel. The packet socket
// vnetd reads the tap with (the userspace path) gets the program's socket
// filter, so that each frame goes exactly one way whatever the mode. Owned:
// destruction takes the programs off every port.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "ebpf/tc_ingress.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

struct hub_forward;  // the bpftool skeleton

namespace vnet::ebpf {

// Where the forwarder sits on a tap's tc ingress: before the host sink
// (kHostSinkTcPriority), whose drop it replaces with its own in kernel mode.
inline constexpr uint32_t kHubForwardTcHandle = 0x5655;
inline constexpr uint32_t kHubForwardTcPriority = 0x5650;

struct HubPortCounters {
  uint64_t frames_in = 0, bytes_in = 0, frames_out = 0, drops = 0;
};

class HubForwarder {
 public:
  static constexpr size_t kMaxPorts = 64;  // HUB_FORWARD_MAX_PORTS

  static Result<std::unique_ptr<HubForwarder>> load();
  ~HubForwarder();
  HubForwarder(const HubForwarder&) = delete;
  HubForwarder& operator=(const HubForwarder&) = delete;

  // A tap joins the hub's kernel path: the tc program on its ingress, the
  // socket filter on host_side_socket (-1: none; a duplicate is kept, so a
  // closed and reused fd number is never touched). Its counters start at 0.
  Result<void> add_port(int ifindex, int host_side_socket);
  // Takes the programs off the port (its socket may already be closed);
  // returns its counters, for the hub port to keep.
  HubPortCounters remove_port(int ifindex);
  size_t port_count() const { return ports_.size(); }

  // In kernel mode the taps' frames are forwarded here and the sockets get
  // none; in userspace mode, the reverse. A frame in flight goes one way.
  void set_kernel(bool kernel);
  bool kernel() const;
  HubPortCounters counters(int ifindex) const;

 private:
  explicit HubForwarder(hub_forward* skeleton) : skeleton_(skeleton) {}
  void publish_ports();  // the port list, written to the inactive generation and flipped to

  struct Port {
    uint32_t slot = 0;
    UniqueFd socket;
    TcIngressFilter filter;
  };
  hub_forward* skeleton_;
  std::map<int, Port> ports_;  // by ifindex
  uint64_t used_slots_ = 0;    // a bit per counters slot
};

}  // namespace vnet::ebpf
