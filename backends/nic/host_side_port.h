// HostSidePort - a guest NIC's tap joined to a hub through vnetd while the
// VMM holds the tap's queues: what the guest sends is received on the tap's
// host side by a packet socket (one copy, into the frame loop's buffer), its
// offloads resolved (datapath/tx_offload) and handed to the hub; what the hub
// sends to the guest is sent out of the tap through the same socket, so the
// tap's rx filter (TUNSETFILTEREBPF) still decides what the guest gets.
// Why a packet socket and not AF_XDP or a second tap: docs/guests-on-hubs.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "backends/datapath/batch_buffers.h"
#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::nic {

class HostSidePort final : private datapath::BatchFlush {
 public:
  // Takes a frame the guest sent, valid until the batch ends.
  using Deliver = std::function<void(std::span<const uint8_t> frame)>;
  static Result<std::unique_ptr<HostSidePort>> open(datapath::FrameLoop& loop, int ifindex, Deliver deliver);
  ~HostSidePort();
  HostSidePort(const HostSidePort&) = delete;
  HostSidePort& operator=(const HostSidePort&) = delete;

  // Out of the tap, to the guest (dropped by the kernel if its filter says
  // so). Inside a frame loop batch it is queued, and the batch's frames to
  // this guest leave in one sendmmsg at its end; frame must live until then.
  void send_to_guest(std::span<const uint8_t> frame);
  std::map<std::string, int64_t> counters() const;
  // The packet socket, for a hub forwarding in the kernel to filter.
  int socket_fd() const { return socket_.get(); }

 private:
  HostSidePort(datapath::FrameLoop& loop, UniqueFd socket, int ifindex, Deliver deliver)
      : loop_(loop), socket_(std::move(socket)), sender_(loop, socket_.get()), ifindex_(ifindex),
        deliver_(std::move(deliver)) {}
  void received(const datapath::FrameLoop::Packet& packet);
  void flush_batch() override { segments_.recycle(); }

  datapath::FrameLoop& loop_;
  UniqueFd socket_;
  datapath::DatagramSender sender_;  // declared after socket_: it flushes on destruction
  int ifindex_;
  Deliver deliver_;
  uint32_t receiver_ = 0;
  datapath::BatchBuffers segments_;
  std::string last_offload_error_;  // the first refusal is logged
  uint64_t from_guest_ = 0, segmented_ = 0, checksums_completed_ = 0;
  uint64_t drops_bad_offload_ = 0, drops_short_ = 0;
};

}  // namespace vnet::nic
