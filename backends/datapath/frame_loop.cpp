#include "backends/datapath/frame_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

namespace vnet::datapath {

namespace {

constexpr unsigned kBuffersPerReceiver = 32;
// Room for io_uring_recvmsg_out and the peer's address before the payload.
constexpr unsigned kBufferSize = FrameLoop::kMaxFrame + 256;
constexpr uint64_t kCancelTag = ~uint64_t{0};

}  // namespace

Result<std::unique_ptr<FrameLoop>> FrameLoop::create() {
  auto ring = uring::Ring::create(512);
  if (!ring) return ring.take_error();
  UniqueFd event(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event) return errno_error("eventfd for the frame loop");
  if (auto registered = ring->register_eventfd(event.get()); !registered) return registered.take_error();
  return std::unique_ptr<FrameLoop>(new FrameLoop(std::move(*ring), std::move(event)));
}

Result<uint32_t> FrameLoop::add_receiver(int fd, Handler handler) {
  uint32_t id = static_cast<uint32_t>(receivers_.size());
  auto receiver = std::make_unique<Receiver>();
  receiver->fd = fd;
  receiver->handler = std::move(handler);
  receiver->shape.msg_namelen = sizeof(sockaddr_storage);
  // Buffer group ids are 16 bits: a receiver's id is its group.
  if (id > 0xffff) return Error{ENOSPC, "too many receivers on the frame loop"};
  auto buffers = uring::BufferRing::create(ring_, static_cast<uint16_t>(id), kBuffersPerReceiver, kBufferSize);
  if (!buffers) return buffers.take_error();
  receiver->buffers = std::make_unique<uring::BufferRing>(std::move(*buffers));
  receivers_.push_back(std::move(receiver));
  arm(id);
  if (auto submitted = ring_.submit(); !submitted) return submitted.take_error();
  return id;
}

void FrameLoop::remove_receiver(uint32_t id) {
  if (id >= receivers_.size() || !receivers_[id]) return;
  // Cancel the posted receive and wait for it to end: its buffers go with it.
  if (receivers_[id]->armed) {
    io_uring_sqe* cancel = ring_.sqe();
    io_uring_prep_cancel64(cancel, id, 0);
    io_uring_sqe_set_data64(cancel, kCancelTag);
    (void)ring_.submit();
    while (receivers_[id]->armed) {
      if (!ring_.submit_and_wait(1)) break;
      process();
    }
  }
  receivers_[id].reset();
}

void FrameLoop::arm(uint32_t id) {
  Receiver& receiver = *receivers_[id];
  io_uring_sqe* receive = ring_.sqe();
  if (!receive) return;
  io_uring_prep_recvmsg_multishot(receive, receiver.fd, &receiver.shape, 0);
  receive->flags |= IOSQE_BUFFER_SELECT;
  receive->buf_group = receiver.buffers->group();
  io_uring_sqe_set_data64(receive, id);
  receiver.armed = true;
}

void FrameLoop::process() {
  uint64_t count = 0;
  (void)!read(event_.get(), &count, sizeof count);
  std::vector<uint32_t> rearm;
  ring_.drain([&](const io_uring_cqe& cqe) {
    if (cqe.user_data == kCancelTag || cqe.user_data >= receivers_.size()) return;
    uint32_t id = static_cast<uint32_t>(cqe.user_data);
    Receiver* receiver = receivers_[id].get();
    if (!receiver) return;
    if (cqe.res >= 0 && uring::BufferRing::has_buffer(cqe)) {
      uint16_t buffer = uring::BufferRing::buffer_id(cqe);
      auto* out = io_uring_recvmsg_validate(receiver->buffers->buffer(buffer), cqe.res, &receiver->shape);
      if (out && !(out->flags & MSG_TRUNC)) {
        auto* payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &receiver->shape));
        receiver->handler({payload, io_uring_recvmsg_payload_length(out, cqe.res, &receiver->shape)});
      }
      receiver->buffers->recycle(buffer);
    }
    if (!(cqe.flags & IORING_CQE_F_MORE)) {
      receiver->armed = false;
      // Out of buffers (ENOBUFS) or a transient error: receive again. A
      // cancelled one (ECANCELED) is being removed.
      if (cqe.res != -ECANCELED) rearm.push_back(id);
    }
  });
  for (uint32_t id : rearm) {
    if (receivers_[id]) arm(id);
  }
  (void)ring_.submit();
}

}  // namespace vnet::datapath
