// TcIngressFilter - a BPF program on a device's tc ingress hook. Where the
// kernel has tcx (Linux 6.6 on) it is a tcx link pinned in a bpffs, first in
// the device's tcx chain: no qdisc and no classifier walk per frame. Without
// tcx, or without a pin path, it is a direct-action cls_bpf filter on a
// clsact qdisc (made if missing), through libbpf's bpf_tc_* API. Owned:
// destruction detaches it, unless released (the daemon stops and leaves it
// enforcing for the next one).
#pragma once

#include <cstdint>
#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::ebpf {

// Where a filter goes and how the next daemon finds it again.
struct TcIngressPlace {
  uint32_t handle = 0;    // the cls_bpf filter's handle and priority: kernels
  uint32_t priority = 0;  // without tcx, and filters an older vnetd attached
  std::string link_pin;   // the tcx link's pin; "" for cls_bpf only
  // A cls_bpf filter at (handle, priority) may be there from an older vnetd
  // (a restart re-adopting its maps): the tcx link replaces it.
  bool replaces_cls_bpf = false;
  // A tcx link with no pin: it lives as long as this daemon holds it, and
  // goes with the daemon (a program whose maps only this daemon keeps).
  bool tcx_unpinned = false;
  // The device's egress hook instead (what it sends), where a hub takes the
  // frames the host sends out of a tap facing it.
  bool egress = false;
};

class TcIngressFilter {
 public:
  TcIngressFilter() = default;
  // Attaches prog_fd on ifindex's ingress. A filter of ours already there
  // (from before a restart: the pinned link, or a cls_bpf filter at the same
  // place) is replaced: a frame meets the old program or the new one (or,
  // for a moment, both), never none.
  static Result<TcIngressFilter> attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                        const TcIngressPlace& place);
  // Takes our filter off ifindex's ingress (both kinds); a device or filter
  // already gone is not an error. A clsact qdisc stays: it is the device's,
  // and goes with it.
  static Result<void> detach(int ifindex, const TcIngressPlace& place);

  TcIngressFilter(TcIngressFilter&& other) noexcept { *this = std::move(other); }
  TcIngressFilter& operator=(TcIngressFilter&& other) noexcept;
  TcIngressFilter(const TcIngressFilter&) = delete;
  TcIngressFilter& operator=(const TcIngressFilter&) = delete;
  ~TcIngressFilter() { reset(); }

  int ifindex() const { return ifindex_; }
  bool is_tcx() const { return bool(link_); }
  explicit operator bool() const { return ifindex_ > 0; }
  // Leaves the filter attached (a tcx link stays by its pin); this object
  // no longer owns it.
  void release();
  void reset();

 private:
  int ifindex_ = 0;
  TcIngressPlace place_;
  UniqueFd link_;  // a tcx link; none for a cls_bpf filter
};

}  // namespace vnet::ebpf
