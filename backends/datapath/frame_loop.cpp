#include "backends/datapath/frame_loop.h"

#include <poll.h>
#include <linux/if_packet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace vnet::datapath {

namespace {

// A receiver starts with a few buffers and doubles them each time the
// kernel runs out within a batch, up to the most a busy port needs: idle
// ports (thousands of them on a host) hold ~280 KiB of address space each,
// not 4.5 MiB.
constexpr unsigned kInitialBuffersPerReceiver = 4;
constexpr unsigned kMaxBuffersPerReceiver = 64;
// A datagram socket's receive buffer: room for bursts. The kernel's default
// holds ~300 small frames, 1 ms at 300k frames/s.
constexpr int kDatagramReceiveBuffer = 4 << 20;
// Room for io_uring_recvmsg_out and the peer's address before the payload.
constexpr unsigned kBufferSize = FrameLoop::kMaxFrame + 256;

// user_data: what a completion belongs to, in the top byte; the id below.
constexpr uint64_t kReceiverTag = 0;
constexpr uint64_t kWatchTag = uint64_t{1} << 56;
constexpr uint64_t kCancelTag = uint64_t{0xff} << 56;
constexpr uint64_t kTagMask = uint64_t{0xff} << 56;
// Linux 6.7's; liburing 2.3's headers predate it.
constexpr uint8_t kOpReadMultishot = 49;

template <typename T>
uint32_t free_slot(std::vector<std::unique_ptr<T>>& slots) {
  auto it = std::find(slots.begin(), slots.end(), nullptr);
  if (it != slots.end()) return static_cast<uint32_t>(it - slots.begin());
  slots.emplace_back();
  return static_cast<uint32_t>(slots.size() - 1);
}

}  // namespace

struct FrameLoop::Receiver {
  int fd = -1;
  Kind kind = Kind::datagrams;
  Handler handler;  // empty once removed (packets: packet_handler is)
  PacketHandler packet_handler;
  Closed closed;
  std::unique_ptr<uring::BufferRing> buffers;
  msghdr shape{};
  bool armed = false;
  bool active() const { return handler || packet_handler; }
  void stop() {
    handler = nullptr;
    packet_handler = nullptr;
    closed = nullptr;
  }
};

struct FrameLoop::Watch {
  int fd = -1;
  uint32_t events = 0;
  Watcher watcher;  // empty once removed
  bool armed = false;
};

FrameLoop::FrameLoop(uring::Ring ring, UniqueFd event) : ring_(std::move(ring)), event_(std::move(event)) {}

Result<std::unique_ptr<FrameLoop>> FrameLoop::create() {
  // Completion work waits for the daemon's next entry into the kernel
  // rather than interrupting it with an IPI for every datagram (COOP_TASKRUN,
  // Linux 5.19). DEFER_TASKRUN would batch more, but the 6.12 kernel misses
  // eventfd wakeups with it (lab_l2tp showed datagrams left in a socket).
  auto cooperative = uring::Ring::create(1024, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  auto ring = cooperative ? std::move(cooperative) : uring::Ring::create(1024);
  if (!ring) return ring.take_error();
  UniqueFd event(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event) return errno_error("eventfd for the frame loop");
  if (auto registered = ring->register_eventfd(event.get()); !registered) return registered.take_error();
  return std::unique_ptr<FrameLoop>(new FrameLoop(std::move(*ring), std::move(event)));
}

FrameLoop::~FrameLoop() {
  // Posted requests hold buffers: end them all before the buffers go.
  for (auto& receiver : receivers_) {
    if (receiver && receiver->armed) {
      io_uring_sqe* cancel = ring_.sqe();
      if (!cancel) break;
      io_uring_prep_cancel64(cancel, kReceiverTag | (&receiver - receivers_.data()), 0);
      io_uring_sqe_set_data64(cancel, kCancelTag);
    }
  }
  (void)ring_.submit();
  for (int rounds = 0; rounds < 100; rounds++) {
    bool pending = std::any_of(receivers_.begin(), receivers_.end(), [](auto& r) { return r && r->armed; });
    if (!pending || !ring_.submit_and_wait(1)) break;
    ring_.drain([&](const io_uring_cqe& cqe) {
      if ((cqe.user_data & kTagMask) != kReceiverTag || cqe.user_data >= receivers_.size()) return;
      if (auto& receiver = receivers_[cqe.user_data]; receiver && !(cqe.flags & IORING_CQE_F_MORE)) receiver->armed = false;
    });
  }
}

Result<uint32_t> FrameLoop::add_receiver(int fd, Handler handler) {
  return add(fd, std::move(handler), nullptr, Kind::datagrams);
}

Result<uint32_t> FrameLoop::add_stream_receiver(int fd, Handler bytes, Closed closed) {
  return add(fd, std::move(bytes), std::move(closed), Kind::stream);
}

Result<uint32_t> FrameLoop::add_frame_reader(int fd, Handler handler, Closed closed) {
  return add(fd, std::move(handler), std::move(closed), Kind::reads);
}

Result<uint32_t> FrameLoop::add_packet_receiver(int fd, PacketHandler handler) {
  return add(fd, nullptr, nullptr, Kind::packets, std::move(handler));
}

Result<uint32_t> FrameLoop::add(int fd, Handler handler, Closed closed, Kind kind, PacketHandler packets) {
  uint32_t id = free_slot(receivers_);
  // Buffer group ids are 16 bits: a receiver's id is its group.
  if (id > 0xffff) {
    receivers_.pop_back();
    return Error{ENOSPC, "too many receivers on the frame loop"};
  }
  if (kind == Kind::datagrams) {
    // Root may go past net.core.rmem_max (FORCE); others get what it allows.
    int size = kDatagramReceiveBuffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
  }
  auto receiver = std::make_unique<Receiver>();
  receiver->fd = fd;
  receiver->kind = kind;
  receiver->handler = std::move(handler);
  receiver->packet_handler = std::move(packets);
  receiver->closed = std::move(closed);
  if (kind == Kind::packets) {
    // No address (the socket is bound to one device); room for auxdata.
    receiver->shape.msg_controllen = CMSG_SPACE(sizeof(tpacket_auxdata));
  } else {
    receiver->shape.msg_namelen = sizeof(sockaddr_storage);
  }
  auto buffers = uring::BufferRing::create(ring_, static_cast<uint16_t>(id), kMaxBuffersPerReceiver,
                                              kBufferSize, kInitialBuffersPerReceiver);
  if (!buffers) return buffers.take_error();
  receiver->buffers = std::make_unique<uring::BufferRing>(std::move(*buffers));
  receivers_[id] = std::move(receiver);
  arm(id);
  if (auto submitted = ring_.submit(); !submitted) return submitted.take_error();
  return id;
}

unsigned FrameLoop::receive_buffers(uint32_t id) const {
  if (id >= receivers_.size() || !receivers_[id]) return 0;
  return receivers_[id]->buffers->count();
}

Result<uint32_t> FrameLoop::watch(int fd, uint32_t poll_events, Watcher watcher) {
  uint32_t id = free_slot(watches_);
  auto watch = std::make_unique<Watch>();
  watch->fd = fd;
  watch->events = poll_events;
  watch->watcher = std::move(watcher);
  watches_[id] = std::move(watch);
  arm_watch(id);
  if (auto submitted = ring_.submit(); !submitted) return submitted.take_error();
  return id;
}

void FrameLoop::remove_receiver(uint32_t id) {
  if (id >= receivers_.size() || !receivers_[id] || !receivers_[id]->active()) return;
  Receiver& receiver = *receivers_[id];
  receiver.stop();
  if (!receiver.armed) {
    if (!in_batch_) receivers_[id].reset();  // else at the batch's end
    return;
  }
  // The request ends with a last completion; its buffers live until then.
  if (io_uring_sqe* cancel = ring_.sqe()) {
    io_uring_prep_cancel64(cancel, kReceiverTag | id, 0);
    io_uring_sqe_set_data64(cancel, kCancelTag);
    (void)ring_.submit();
  }
  settle([&] { return !receivers_[id]; });
}

// A posted request holds its file: until it has ended, a socket closed by
// its owner stays open (a port stays bound). Outside a batch, let the end
// complete now.
void FrameLoop::settle(const std::function<bool()>& done) {
  if (in_batch_) return;
  for (int round = 0; round < 8 && !done(); round++) {
    (void)ring_.submit_and_get_events();
    run_batch();
  }
  (void)ring_.submit();
}

void FrameLoop::unwatch(uint32_t id) {
  if (id >= watches_.size() || !watches_[id] || !watches_[id]->watcher) return;
  Watch& watch = *watches_[id];
  watch.watcher = nullptr;
  if (!watch.armed) {
    if (!in_batch_) watches_[id].reset();
    return;
  }
  if (io_uring_sqe* remove = ring_.sqe()) {
    io_uring_prep_poll_remove(remove, kWatchTag | id);
    io_uring_sqe_set_data64(remove, kCancelTag);
    (void)ring_.submit();
  }
  settle([&] { return !watches_[id]; });
}

void FrameLoop::defer_flush(BatchFlush& flusher) {
  if (std::find(flushers_.begin(), flushers_.end(), &flusher) == flushers_.end()) flushers_.push_back(&flusher);
}

void FrameLoop::defer_release(BatchFlush& releaser) {
  if (std::find(releasers_.begin(), releasers_.end(), &releaser) == releasers_.end()) releasers_.push_back(&releaser);
}

void FrameLoop::forget_flush(BatchFlush& flusher) {
  std::replace(flushers_.begin(), flushers_.end(), &flusher, static_cast<BatchFlush*>(nullptr));
  std::replace(releasers_.begin(), releasers_.end(), &flusher, static_cast<BatchFlush*>(nullptr));
}

void FrameLoop::flush_now() {
  if (!flushing_) flush_batch();
}

void FrameLoop::arm(uint32_t id) {
  Receiver& receiver = *receivers_[id];
  io_uring_sqe* receive = ring_.sqe();
  if (!receive) return;
  switch (receiver.kind) {
    case Kind::stream: io_uring_prep_recv_multishot(receive, receiver.fd, nullptr, 0, 0); break;
    case Kind::datagrams:
    case Kind::packets: io_uring_prep_recvmsg_multishot(receive, receiver.fd, &receiver.shape, 0); break;
    case Kind::reads:
      if (read_multishot_) io_uring_prep_rw(kOpReadMultishot, receive, receiver.fd, nullptr, 0, 0);
      else io_uring_prep_read(receive, receiver.fd, nullptr, kBufferSize, 0);
      break;
  }
  receive->flags |= IOSQE_BUFFER_SELECT;
  receive->buf_group = receiver.buffers->group();
  io_uring_sqe_set_data64(receive, kReceiverTag | id);
  receiver.armed = true;
}

void FrameLoop::arm_watch(uint32_t id) {
  Watch& watch = *watches_[id];
  io_uring_sqe* poll = ring_.sqe();
  if (!poll) return;
  io_uring_prep_poll_multishot(poll, watch.fd, watch.events);
  io_uring_sqe_set_data64(poll, kWatchTag | id);
  watch.armed = true;
}

void FrameLoop::handle_receive(uint32_t id, const io_uring_cqe& cqe) {
  if (id >= receivers_.size() || !receivers_[id]) return;
  Receiver& receiver = *receivers_[id];
  if (cqe.res >= 0 && uring::BufferRing::has_buffer(cqe)) {
    uint16_t buffer = uring::BufferRing::buffer_id(cqe);
    to_recycle_.emplace_back(id, buffer);
    uint8_t* data = receiver.buffers->buffer(buffer);
    if (!receiver.active()) {
    } else if (receiver.kind == Kind::packets) {
      deliver_packet(receiver, data, cqe.res);
    } else if (receiver.kind != Kind::datagrams) {
      receiver.handler({data, static_cast<size_t>(cqe.res)});
    } else if (auto* out = io_uring_recvmsg_validate(data, cqe.res, &receiver.shape); out && !(out->flags & MSG_TRUNC)) {
      auto* payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &receiver.shape));
      receiver.handler({payload, io_uring_recvmsg_payload_length(out, cqe.res, &receiver.shape)});
    }
  }
  if (cqe.flags & IORING_CQE_F_MORE) return;
  receiver.armed = false;
  if (!receiver.active()) return;  // removed: freed at the batch's end
  // A kernel without multishot reads refuses the opcode: read once per
  // request from now on.
  if (receiver.kind == Kind::reads && read_multishot_ && (cqe.res == -EINVAL || cqe.res == -EOPNOTSUPP)) {
    read_multishot_ = false;
    to_rearm_.push_back(id);
    return;
  }
  // The kernel ran out of this receiver's buffers within a batch: it is busy.
  if (cqe.res == -ENOBUFS) receiver.buffers->grow();
  // A stream ends at its end (0) or on an error other than running out of
  // buffers, a device when its fd fails (a deleted tap: EBADFD); a datagram
  // receive is re-armed after a transient error.
  bool transient = cqe.res == -ENOBUFS || cqe.res == -EAGAIN || cqe.res == -EINTR;
  bool ended = receiver.kind != Kind::datagrams && receiver.kind != Kind::packets && (cqe.res < 0 ? !transient : cqe.res == 0 && receiver.kind == Kind::stream);
  if (ended) {
    Closed closed = std::move(receiver.closed);
    receiver.stop();
    if (closed) closed(cqe.res == 0 ? 0 : -cqe.res);
    return;
  }
  to_rearm_.push_back(id);
}

void FrameLoop::deliver_packet(Receiver& receiver, uint8_t* data, int length) {
  auto* out = io_uring_recvmsg_validate(data, length, &receiver.shape);
  if (!out || (out->flags & MSG_TRUNC)) return;
  Packet packet;
  auto* payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &receiver.shape));
  packet.data = {payload, io_uring_recvmsg_payload_length(out, length, &receiver.shape)};
  packet.headroom = static_cast<size_t>(payload - data);
  if (cmsghdr* cmsg = io_uring_recvmsg_cmsg_firsthdr(out, &receiver.shape)) packet.vlan = packet::vlan_tag_of(cmsg);
  receiver.packet_handler(packet);
}

void FrameLoop::handle_watch(uint32_t id, const io_uring_cqe& cqe) {
  if (id >= watches_.size() || !watches_[id]) return;
  Watch& watch = *watches_[id];
  if (!(cqe.flags & IORING_CQE_F_MORE)) watch.armed = false;
  if (watch.watcher && cqe.res > 0) watch.watcher(static_cast<uint32_t>(cqe.res));
  if (!watch.armed && watches_[id] && watch.watcher) arm_watch(id);
}

void FrameLoop::flush_batch() {
  flushing_ = true;
  // A flusher may defer more while flushing (it sends to a peer that
  // batches); releasers go once every sender has sent.
  while (!flushers_.empty() || !releasers_.empty()) {
    for (size_t i = 0; i < flushers_.size(); i++) {
      if (BatchFlush* flusher = flushers_[i]) flusher->flush_batch();
    }
    flushers_.clear();
    for (size_t i = 0; i < releasers_.size(); i++) {
      if (BatchFlush* releaser = releasers_[i]) releaser->flush_batch();
    }
    releasers_.clear();
  }
  flushing_ = false;
}

void FrameLoop::process() {
  uint64_t count = 0;
  (void)!read(event_.get(), &count, sizeof count);
  // Batches back to back while completions keep coming (a busy port), a
  // few at most, so that the control plane is not starved.
  constexpr int kMaxBatches = 8;
  for (int batch = 0; batch < kMaxBatches; batch++) {
    (void)ring_.submit_and_get_events();
    if (!run_batch()) break;
  }
  (void)ring_.submit();
}

bool FrameLoop::run_batch() {
  in_batch_ = true;
  unsigned handled = ring_.drain([&](const io_uring_cqe& cqe) {
    uint64_t tag = cqe.user_data & kTagMask;
    uint32_t id = static_cast<uint32_t>(cqe.user_data & ~kTagMask);
    if (tag == kReceiverTag) handle_receive(id, cqe);
    else if (tag == kWatchTag) handle_watch(id, cqe);
  });
  flush_batch();
  in_batch_ = false;
  for (auto [id, buffer] : to_recycle_) {
    if (id < receivers_.size() && receivers_[id]) receivers_[id]->buffers->recycle(buffer);
  }
  to_recycle_.clear();
  for (uint32_t id : to_rearm_) {
    if (id < receivers_.size() && receivers_[id] && receivers_[id]->active() && !receivers_[id]->armed) arm(id);
  }
  to_rearm_.clear();
  // Removed receivers and watches whose requests have ended are freed.
  for (auto& receiver : receivers_) {
    if (receiver && !receiver->active() && !receiver->armed) receiver.reset();
  }
  for (auto& watch : watches_) {
    if (watch && !watch->watcher && !watch->armed) watch.reset();
  }
  return handled > 0;
}

}  // namespace vnet::datapath
