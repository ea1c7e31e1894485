// StreamSender - frames out on a TCP connection, each behind its 4-byte
// big-endian length (QEMU's net_socket_receive()). Inside a frame loop batch
// frames are queued by reference and written with one writev at its end;
// what the socket does not take at once waits in a bounded backlog, written
// when the socket is writable again. A frame that does not fit in the
// backlog is dropped and counted: back-pressure, not an unbounded queue.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"

namespace vnet::socket {

class StreamSender : public datapath::BatchFlush {
 public:
  static constexpr size_t kBacklogLimit = 1 << 20;
  static constexpr size_t kBatch = 256;

  explicit StreamSender(datapath::FrameLoop& loop) : loop_(loop) {}
  ~StreamSender();
  StreamSender(const StreamSender&) = delete;
  StreamSender& operator=(const StreamSender&) = delete;

  // Starts writing on a connected (or connecting) socket; -1 stops and drops
  // the backlog (the connection is gone).
  void attach(int fd);
  void send(std::span<const uint8_t> frame);
  void flush_batch() override;
  std::vector<Detail> details() const;

 private:
  bool write_backlog();  // false: the connection failed
  void watch_writable(bool on);
  void fail(int error);

  datapath::FrameLoop& loop_;
  int fd_ = -1;
  std::vector<uint32_t> lengths_;  // big-endian, one per queued frame
  std::vector<std::span<const uint8_t>> queued_;
  std::vector<uint8_t> backlog_;
  size_t backlog_sent_ = 0;
  std::optional<uint32_t> writable_watch_;
  uint64_t frames_ = 0, bytes_ = 0, drops_backpressure_ = 0, drops_error_ = 0;
  uint64_t drops_no_connection_ = 0;
  int last_error_ = 0;
};

}  // namespace vnet::socket
