// FrameInjector - puts a frame into the kernel as received on a device, with
// announce.bpf.c run once through BPF_PROG_TEST_RUN in live-frames mode
// (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18+): what a guest's transmit looks
// like from the host, without an fd of the device's.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "kernel_ifaces/result.h"

struct announce;  // the bpftool skeleton

namespace vnet::ebpf {

class FrameInjector {
 public:
  static Result<std::unique_ptr<FrameInjector>> load();
  ~FrameInjector();
  FrameInjector(const FrameInjector&) = delete;
  FrameInjector& operator=(const FrameInjector&) = delete;

  // The frame (Ethernet header onward) enters the stack as received on
  // ifindex, in the caller's network namespace, on rx queue 0.
  Result<void> inject(int ifindex, std::span<const uint8_t> frame);

 private:
  explicit FrameInjector(announce* skeleton) : skeleton_(skeleton) {}
  announce* skeleton_;
};

}  // namespace vnet::ebpf
