// FrameLoop - the userspace datapath's io_uring. Receives stay posted
// (multishot recvmsg / recv on provided buffers: no per-frame allocation),
// fds that need a callback when ready are polled on the same ring (multishot
// poll), and work is done in batches: every completion ready is handled, then
// the batch's deferred sends are flushed (BatchFlush), and only then do the
// receive buffers go back to the kernel. So a frame is handed on by reference
// from the buffer the kernel received it into, and copied once more only by
// the kernel, into the destination. The daemon's epoll loop watches
// event_fd() and calls process().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kernel_ifaces/packet_socket.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"
#include "kernel_ifaces/uring.h"

namespace vnet::datapath {

// Something with sends deferred to the end of the current batch.
class BatchFlush {
 public:
  virtual void flush_batch() = 0;

 protected:
  ~BatchFlush() = default;
};

class FrameLoop {
 public:
  // A frame (or, for streams, a chunk of bytes), valid until the end of the
  // batch it was handed out in: senders may keep a reference until they flush.
  using Handler = std::function<void(std::span<const uint8_t> data)>;
  // A stream receive ended: 0 at end of stream, else the errno.
  using Closed = std::function<void(int error)>;
  // poll(2) revents of a watched fd.
  using Watcher = std::function<void(uint32_t revents)>;
  // A frame from a packet socket (kernel_ifaces/packet_socket.h), in its
  // receive buffer: `headroom` bytes before it are the handler's to write
  // (room to put a VLAN tag back); `vlan` is the tag the kernel took off.
  struct Packet {
    std::span<uint8_t> data;
    size_t headroom = 0;
    std::optional<packet::VlanTag> vlan;
  };
  using PacketHandler = std::function<void(const Packet& packet)>;
  // QEMU's NET_BUFSIZE (4096 + 65536): the largest frame a netdev takes.
  static constexpr unsigned kMaxFrame = 4096 + 65536;

  static Result<std::unique_ptr<FrameLoop>> create();
  ~FrameLoop();
  int event_fd() const { return event_.get(); }
  // Handles every completion ready now, flushes the batch, re-arms receives.
  void process();

  // Starts receiving datagrams on fd (which the caller keeps open until
  // remove_receiver), its receive buffer enlarged for bursts; returns a
  // receiver id.
  Result<uint32_t> add_receiver(int fd, Handler handler);
  // Starts receiving a byte stream on fd; closed() is called once, when it
  // ends, and no bytes come after it. The id is then no longer the caller's:
  // do not remove it.
  Result<uint32_t> add_stream_receiver(int fd, Handler bytes, Closed closed);
  // Starts reading a device that gives one frame per read (a tap queue) on
  // fd, with reads kept posted (multishot where the kernel has it, 6.7 on).
  // closed() is called once if the device goes (its fd then only fails).
  Result<uint32_t> add_frame_reader(int fd, Handler handler, Closed closed);
  // Starts receiving on a packet socket (packet::open_host_side), with
  // each frame's auxdata.
  Result<uint32_t> add_packet_receiver(int fd, PacketHandler handler);
  // Calls watcher whenever fd is ready for poll_events (POLLIN, POLLOUT...).
  Result<uint32_t> watch(int fd, uint32_t poll_events, Watcher watcher);
  // Both take effect at once: no handler is called after they return, even
  // from inside a handler. The posted request ends in the background; the fd
  // may be closed right after.
  void remove_receiver(uint32_t id);
  void unwatch(uint32_t id);
  // How many receive buffers a receiver holds now (it grows them when busy).
  unsigned receive_buffers(uint32_t id) const;

  // True while process() hands out frames: a sender may defer its sends to
  // the batch's end (defer_flush) rather than send at once.
  bool in_batch() const { return in_batch_; }
  void defer_flush(BatchFlush& flusher);
  // For one that lent the frames it handed out (guest memory, sent in place):
  // flushed after every defer_flush() flusher, when no sender holds them.
  void defer_release(BatchFlush& releaser);
  // A flusher being destroyed leaves the batch.
  void forget_flush(BatchFlush& flusher);
  // Ends the batch for its senders now, as its end would (the batch goes
  // on): for one about to take back frames it lent, or to hand buffers back
  // sooner. Does nothing when called from inside a flush.
  void flush_now();

 private:
  struct Receiver;
  struct Watch;
  FrameLoop(uring::Ring ring, UniqueFd event);
  enum class Kind { datagrams, stream, reads, packets };
  Result<uint32_t> add(int fd, Handler handler, Closed closed, Kind kind, PacketHandler packets = nullptr);
  void arm(uint32_t id);
  void arm_watch(uint32_t id);
  void handle_receive(uint32_t id, const io_uring_cqe& cqe);
  void handle_watch(uint32_t id, const io_uring_cqe& cqe);
  void deliver_packet(Receiver& receiver, uint8_t* data, int length);
  void flush_batch();
  bool run_batch();  // false when there was nothing to do
  void settle(const std::function<bool()>& done);

  uring::Ring ring_;
  UniqueFd event_;
  // By id; an id is reused once its request has ended (its buffer group too).
  std::vector<std::unique_ptr<Receiver>> receivers_;
  std::vector<std::unique_ptr<Watch>> watches_;
  bool in_batch_ = false;
  bool read_multishot_ = true;  // until the kernel says it has no IORING_OP_READ_MULTISHOT
  std::vector<BatchFlush*> flushers_;
  std::vector<BatchFlush*> releasers_;
  bool flushing_ = false;
  std::vector<std::pair<uint32_t, uint16_t>> to_recycle_;  // (receiver, buffer)
  std::vector<uint32_t> to_rearm_;
};

}  // namespace vnet::datapath
