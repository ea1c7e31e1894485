// HostSink - host_sink.bpf.c on the tc ingress of a NIC's own tap on a hub:
// the guest's frames go to the hub (vnetd's packet socket reads them first)
// and not into the host's stack, which would answer ARP for the host's own
// addresses and take IP packets to them. Owned as TcIngressFilter is.
#pragma once

#include <string>

#include "ebpf/tc_ingress.h"
#include "kernel_ifaces/result.h"

namespace vnet::ebpf {

// Where the sink sits on the tap's tc ingress (a restarted daemon finds it
// there): link_pin is the tcx link's pin, "" for cls_bpf.
inline constexpr uint32_t kHostSinkTcHandle = 0x5654;  // "VT"
inline constexpr uint32_t kHostSinkTcPriority = 0x5654;

class HostSink {
 public:
  HostSink() = default;
  static Result<HostSink> attach(int ifindex, const std::string& ifname_for_errors, const std::string& link_pin);
  explicit operator bool() const { return bool(filter_); }
  void release() { filter_.release(); }
  void reset() { filter_.reset(); }

 private:
  TcIngressFilter filter_;
};

}  // namespace vnet::ebpf
