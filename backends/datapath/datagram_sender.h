// DatagramSender - sends of one datagram socket, batched: inside a frame loop
// batch, frames are queued by reference (with a small header copied, as
// l2tpv3's) and go out in one sendmmsg when the batch ends or the queue is
// full; outside a batch, at once. Counters by cause.
//
// On a UDP socket, a run of queued datagrams to one destination whose sizes
// are equal (the last may be shorter) goes as one UDP GSO send (UDP_SEGMENT):
// one trip down the stack for the run, cut into the same datagrams by the
// device or by the kernel before delivery. A peer sees no difference. Bulk
// traffic is such runs: MTU-sized frames, or same-sized small ones.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"

namespace vnet::datapath {

union SocketAddress {
  sockaddr any;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

struct SendCounters {
  uint64_t frames = 0, bytes = 0;
  uint64_t drops_error = 0;  // the kernel refused it (errno below)
  int last_error = 0;
  uint64_t gso_sends = 0;    // sends that carried a run of datagrams (UDP GSO)
};

class DatagramSender final : public BatchFlush {
 public:
  static constexpr size_t kMaxHeader = 280;  // l2tpv3's largest
  static constexpr size_t kBatch = 64;
  // The kernel's bounds on one UDP GSO send: segments (UDP_MAX_SEGMENTS, 64
  // before Linux 6.9) and bytes (a UDP datagram's largest payload over IPv4).
  static constexpr size_t kMaxGsoSegments = 64;
  static constexpr size_t kMaxGsoBytes = 65507;

  DatagramSender(FrameLoop& loop, int fd);
  ~DatagramSender();
  DatagramSender(const DatagramSender&) = delete;
  DatagramSender& operator=(const DatagramSender&) = delete;

  // header (at most kMaxHeader bytes) then frame, as one datagram to `to`
  // (nullptr: the socket's connected peer). frame must stay valid until the
  // batch ends, as frames the loop hands out do.
  void send(std::span<const uint8_t> header, std::span<const uint8_t> frame, const SocketAddress* to,
            socklen_t to_length);
  void flush_batch() override;
  const SendCounters& counters() const { return counters_; }
  bool gso_enabled() const { return gso_; }
  std::vector<Detail> details(const std::string& prefix = "") const;

 private:
  // A queued datagram. The pointers sendmmsg needs are made at the flush, so
  // the queue may move as it grows.
  struct Slot {
    std::array<uint8_t, kMaxHeader> header;
    size_t header_length = 0;
    std::span<const uint8_t> frame;
    SocketAddress to;
    socklen_t to_length = 0;  // 0: the connected peer
    size_t size() const { return header_length + frame.size(); }
  };
  // One sendmmsg message: a datagram, or a GSO run of them.
  struct Message {
    size_t first_slot = 0, slots = 0, bytes = 0;
    alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(uint16_t))> control{};
  };
  bool same_destination(const Slot& a, const Slot& b) const;
  size_t run_length(size_t first) const;
  // Messages for the slots from `first_slot` on.
  void prepare_messages(size_t first_slot);
  void account(const Message& message, bool sent, int error);

  FrameLoop& loop_;
  int fd_;
  bool gso_ = false;  // a UDP socket, and the kernel has not refused a GSO send
  std::string gso_refused_;
  // Grown to the largest batch seen (at most kBatch): an idle sender, of
  // thousands, holds nothing.
  std::vector<Slot> slots_;
  std::vector<Message> messages_;
  std::vector<mmsghdr> headers_;
  std::vector<iovec> parts_;
  size_t queued_ = 0;
  SendCounters counters_;
};

}  // namespace vnet::datapath
