// TcIngressFilter - a BPF program attached as a direct-action cls_bpf filter
// on a device's tc ingress hook (a clsact qdisc, made if missing), through
// libbpf's bpf_tc_* API. Owned: destruction detaches it, unless released
// (the daemon stops and leaves it enforcing for the next one).
#pragma once

#include <cstdint>
#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::ebpf {

class TcIngressFilter {
 public:
  TcIngressFilter() = default;
  // Attaches prog_fd at (handle, priority) on ifindex's ingress, replacing a
  // filter already there at the same place (ours, from before a restart): a
  // frame meets the old program or the new one, never none.
  static Result<TcIngressFilter> attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                        uint32_t handle, uint32_t priority);
  // Takes the filter at (handle, priority) off ifindex's ingress; a device or
  // filter already gone is not an error. The clsact qdisc stays: it is the
  // device's, and goes with it.
  static Result<void> detach(int ifindex, uint32_t handle, uint32_t priority);

  TcIngressFilter(TcIngressFilter&& other) noexcept { *this = std::move(other); }
  TcIngressFilter& operator=(TcIngressFilter&& other) noexcept;
  TcIngressFilter(const TcIngressFilter&) = delete;
  TcIngressFilter& operator=(const TcIngressFilter&) = delete;
  ~TcIngressFilter() { reset(); }

  int ifindex() const { return ifindex_; }
  explicit operator bool() const { return ifindex_ > 0; }
  // Leaves the filter attached; this object no longer owns it.
  void release() { ifindex_ = 0; }
  void reset();

 private:
  int ifindex_ = 0;
  uint32_t handle_ = 0;
  uint32_t priority_ = 0;
};

}  // namespace vnet::ebpf
