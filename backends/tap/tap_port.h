// TapPort - a tap's queues carrying frames inside vnetd, for a tap whose
// peer is a userspace port (a hub port, a socket...) rather than a guest NIC
// whose VMM holds the queues: frames the kernel sends out of the tap are
// read on the frame loop (reads kept posted on every queue) and handed to
// the peer; frames for the tap are written into queue 0. The virtio-net
// header, when the queues have one, is taken off and put on here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"

namespace vnet::tap {

class TapPort {
 public:
  // queue_fds stay the tap's; header_size is the queues' vnet header size
  // (0 without IFF_VNET_HDR).
  static Result<std::unique_ptr<TapPort>> start(datapath::FrameLoop& loop, std::vector<int> queue_fds,
                                                int header_size, Backend& peer);
  ~TapPort();
  TapPort(const TapPort&) = delete;
  TapPort& operator=(const TapPort&) = delete;

  Result<void> write(std::span<const uint8_t> frame);
  std::vector<Detail> details() const;

 private:
  TapPort(datapath::FrameLoop& loop, std::vector<int> queue_fds, int header_size, Backend& peer);
  void received(std::span<const uint8_t> data);

  datapath::FrameLoop& loop_;
  std::vector<int> queue_fds_;
  std::vector<uint8_t> zero_header_;
  Backend& peer_;
  std::vector<std::optional<uint32_t>> readers_;
  uint64_t frames_in_ = 0, bytes_in_ = 0, frames_out_ = 0, bytes_out_ = 0;
  uint64_t drops_short_ = 0, drops_write_ = 0, queues_gone_ = 0;
  int last_write_error_ = 0;
};

}  // namespace vnet::tap
