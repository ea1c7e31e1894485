// VhostNetQueuePair - the lab harness as the VMM of one virtio-net queue pair
// served by vhost-net: it owns the vhost fd and the tap queue's fd, puts its
// rings and buffers in the given guest memory, and moves frames through
// receiveq (vq 0) and transmitq (vq 1), set up as QEMU's
// vhost_net_start_one() does.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"
#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"
#include "virtio/net_header.h"

namespace vnet::lab {

using virtio::GuestMemory;
using virtio::SplitQueue;
using virtio::UsedBuffer;

// The header before every frame once VIRTIO_F_VERSION_1 or
// VIRTIO_NET_F_MRG_RXBUF is negotiated.
using VirtioNetHdr = virtio::NetHeader;

struct ReceivedFrame {
  VirtioNetHdr header;
  std::vector<uint8_t> data;  // the Ethernet frame, header stripped
};

class VhostNetQueuePair {
 public:
  static constexpr unsigned kRxQueue = 0;  // virtio-net receiveq
  static constexpr unsigned kTxQueue = 1;  // virtio-net transmitq
  static constexpr uint32_t kBufferSize = 2048;  // a 1514-byte frame and its header fit one

  // Becomes the owner of vhost (VHOST_SET_OWNER), negotiates
  // wanted_features (all must be offered), maps memory, sets both rings up
  // with kick and call eventfds, fills receiveq and attaches tap as the
  // backend (VHOST_NET_SET_BACKEND).
  static Result<std::unique_ptr<VhostNetQueuePair>> start(UniqueFd vhost, UniqueFd tap, GuestMemory& memory,
                                                          uint64_t wanted_features, uint16_t ring_size);
  VhostNetQueuePair(const VhostNetQueuePair&) = delete;
  VhostNetQueuePair& operator=(const VhostNetQueuePair&) = delete;
  // Detaches the backend, then closes the fds.
  ~VhostNetQueuePair();

  // Puts frame (after a zeroed header: no checksum or GSO offload) on
  // transmitq, kicks, and waits until the device has used it.
  Result<void> send(std::span<const uint8_t> frame, std::chrono::milliseconds timeout);
  // The next frame the device put on receiveq, or nullopt after timeout;
  // its buffer goes back to the device.
  Result<std::optional<ReceivedFrame>> receive(std::chrono::milliseconds timeout);

 private:
  struct Ring {
    SplitQueue queue;
    UniqueFd kick;
    UniqueFd call;
    std::vector<uint64_t> buffers;  // gpa of descriptor i's buffer
  };

  VhostNetQueuePair(UniqueFd vhost, UniqueFd tap, GuestMemory& memory)
      : vhost_(std::move(vhost)), tap_(std::move(tap)), memory_(&memory) {}
  Result<Ring> setup_ring(unsigned index, uint16_t size);
  Result<void> kick(const Ring& ring);
  // Waits for the ring's call eventfd (and clears it); false on timeout.
  Result<bool> wait_call(const Ring& ring, std::chrono::steady_clock::time_point deadline);

  UniqueFd vhost_;
  UniqueFd tap_;
  GuestMemory* memory_;
  std::optional<Ring> rx_, tx_;
  std::vector<uint16_t> tx_free_;
  bool attached_ = false;
};

}  // namespace vnet::lab
