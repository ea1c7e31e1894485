// HubForwarder - one loaded hub_forward.bpf.c for one hub whose ports are
// kernel devices (NICs' own taps): each port's tc ingress repeats what its
// guest sends to every other port's tap, in the kernel. The packet socket
// vnetd reads the tap with (the userspace path) gets the program's socket
// filter, so that each frame goes exactly one way whatever the mode.
//
// With a pin directory its maps and tcx links are pinned there: the kernel
// goes on forwarding while no vnetd runs, and a restarted vnetd re-adopts
// them (mode, port list, counters) as it does a NIC's filter. Owned:
// destruction takes the programs off every port and removes the pins,
// unless kept on exit.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ebpf/tc_ingress.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

struct hub_forward;  // the bpftool skeleton
struct hub_state;    // ebpf/hub_forward.h

namespace vnet::ebpf {

// Where the forwarder sits on a tap's tc ingress: before the host sink
// (kHostSinkTcPriority), whose drop it replaces with its own in kernel mode.
inline constexpr uint32_t kHubForwardTcHandle = 0x5655;
inline constexpr uint32_t kHubForwardTcPriority = 0x5650;

struct HubPortCounters {
  uint64_t frames_in = 0, bytes_in = 0, frames_out = 0, drops = 0;
  HubPortCounters& operator+=(const HubPortCounters& more) {
    frames_in += more.frames_in;
    bytes_in += more.bytes_in;
    frames_out += more.frames_out;
    drops += more.drops;
    return *this;
  }
};

class HubForwarder {
 public:
  static constexpr size_t kMaxPorts = 64;  // HUB_FORWARD_MAX_PORTS

  // pin_dir "" pins nothing; maps already pinned there are re-adopted.
  static Result<std::unique_ptr<HubForwarder>> load(const std::string& pin_dir = "");
  ~HubForwarder();
  HubForwarder(const HubForwarder&) = delete;
  HubForwarder& operator=(const HubForwarder&) = delete;
  bool adopted() const { return adopted_; }

  // A tap joins the hub's kernel path: the tc program on its ingress, the
  // socket filter on host_side_socket (-1: none; a duplicate is kept, so a
  // closed and reused fd number is never touched). A tap the adopted maps
  // list keeps its counters (its pinned link gets the new program); a new
  // one starts at 0.
  // A host-facing tap (a tap netdev) gets the egress program instead.
  // only_unicast_to: the one unicast address its guest takes, if so.
  using Mac = std::array<uint8_t, 6>;
  Result<void> add_port(int ifindex, int host_side_socket, bool host_facing = false,
                        std::optional<Mac> only_unicast_to = std::nullopt);
  // The guest's filter changed: which unicast frames it is offered.
  void set_port_unicast(int ifindex, std::optional<Mac> only_unicast_to);
  // Takes the programs off the port (its socket may already be closed);
  // returns its counters, for the hub port to keep.
  HubPortCounters remove_port(int ifindex);
  // Ports the adopted maps listed that no add_port() claimed (their NICs
  // went while no vnetd ran): removed.
  void remove_unclaimed_ports();
  size_t port_count() const { return ports_.size(); }

  // In kernel mode the taps' frames are forwarded here and the sockets get
  // none; in userspace mode, the reverse. A frame in flight goes one way.
  void set_kernel(bool kernel);
  bool kernel() const;
  HubPortCounters counters(int ifindex) const;

  // The daemon stops and leaves the hub forwarding for the next one.
  void keep_on_exit() { keep_ = true; }
  // Detaches the links pinned in pin_dir and removes its pins (a hub the
  // restarted daemon's state does not have).
  static void remove_pins(const std::string& pin_dir);

 private:
  explicit HubForwarder(hub_forward* skeleton) : skeleton_(skeleton) {}
  Result<void> pin_or_adopt(const std::string& pin_dir);
  void publish_ports();  // the port list, written to the inactive generation and flipped to
  TcIngressPlace place(int ifindex, bool host_facing) const;

  struct Port {
    uint32_t slot = 0;
    bool claimed = true;  // false: listed by adopted maps, not added since
    bool host_facing = false;
    std::optional<Mac> only_unicast_to;
    UniqueFd socket;
    TcIngressFilter filter;
  };
  hub_forward* skeleton_;
  hub_state* state_ = nullptr;  // the state map, mapped shared
  std::string pin_dir_;
  bool adopted_ = false;
  bool keep_ = false;
  std::map<int, Port> ports_;  // by ifindex
  uint64_t used_slots_ = 0;    // a bit per counters slot
};

}  // namespace vnet::ebpf
