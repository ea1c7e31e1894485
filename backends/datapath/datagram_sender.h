// DatagramSender - sends of one datagram socket, batched: inside a frame loop
// batch, frames are queued by reference (with a small header copied, as
// l2tpv3's) and go out in one sendmmsg when the batch ends or the queue is
// full; outside a batch, at once. Counters by cause.
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
};

class DatagramSender final : public BatchFlush {
 public:
  static constexpr size_t kMaxHeader = 280;  // l2tpv3's largest
  static constexpr size_t kBatch = 64;

  DatagramSender(FrameLoop& loop, int fd) : loop_(loop), fd_(fd) {}
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
    iovec parts[2];
  };
  void account(size_t index, ssize_t result, int error);
  void prepare_messages();

  FrameLoop& loop_;
  int fd_;
  // Grown to the largest batch seen (at most kBatch): an idle sender, of
  // thousands, holds nothing.
  std::vector<Slot> slots_;
  std::vector<mmsghdr> messages_;
  size_t queued_ = 0;
  SendCounters counters_;
};

}  // namespace vnet::datapath
