#include "kernel_ifaces/uring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace vnet::uring {

Result<Ring> Ring::create(unsigned entries, unsigned flags) {
  auto ring = std::make_unique<io_uring>();
  if (int err = io_uring_queue_init(entries, ring.get(), flags); err < 0) {
    return Error::from_errno(-err, "io_uring_queue_init with " + std::to_string(entries) + " entries");
  }
  return Ring(std::move(ring), flags);
}

Ring::Ring(Ring&& other) noexcept : ring_(std::move(other.ring_)), flags_(other.flags_) {}

Ring::~Ring() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* entry = io_uring_get_sqe(ring_.get());
  if (entry) return entry;
  if (io_uring_submit(ring_.get()) < 0) return nullptr;
  return io_uring_get_sqe(ring_.get());
}

Result<unsigned> Ring::submit() {
  int submitted = io_uring_submit(ring_.get());
  if (submitted < 0) return Error::from_errno(-submitted, "io_uring_submit");
  return static_cast<unsigned>(submitted);
}

Result<unsigned> Ring::submit_and_get_events() {
  // liburing 2.3's io_uring_submit_and_get_events() does not enter the
  // kernel when there is nothing to submit, and then deferred completion
  // work never runs: submit, then always enter for the events.
  int submitted = io_uring_submit(ring_.get());
  if (submitted < 0) return Error::from_errno(-submitted, "io_uring_submit");
  if (int got = io_uring_get_events(ring_.get()); got < 0) return Error::from_errno(-got, "io_uring_get_events");
  return static_cast<unsigned>(submitted);
}

Result<unsigned> Ring::submit_and_wait(unsigned count) {
  int submitted = io_uring_submit_and_wait(ring_.get(), count);
  if (submitted < 0) return Error::from_errno(-submitted, "io_uring_submit_and_wait");
  return static_cast<unsigned>(submitted);
}

Result<void> Ring::register_eventfd(int fd) {
  if (int err = io_uring_register_eventfd(ring_.get(), fd); err < 0) {
    return Error::from_errno(-err, "io_uring_register_eventfd");
  }
  return {};
}

void BufferRing::Unmapper::operator()(uint8_t* p) const { munmap(p, bytes); }

namespace {

bool is_power_of_two(unsigned n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

Result<BufferRing> BufferRing::create(Ring& ring, uint16_t group, unsigned capacity, unsigned size, unsigned initial) {
  if (initial == 0) initial = capacity;
  if (!is_power_of_two(capacity) || capacity > 32768) {
    return Error{EINVAL, "a buffer ring holds a power of two buffers, up to 32768 (not " + std::to_string(capacity) + ")"};
  }
  if (!is_power_of_two(initial) || initial > capacity) {
    return Error{EINVAL, "a buffer ring starts with a power of two buffers, up to its capacity (not " +
                             std::to_string(initial) + ")"};
  }
  BufferRing buffers;
  buffers.ring_ = ring.get();
  buffers.group_ = group;
  buffers.capacity_ = capacity;
  buffers.chunk_ = initial;
  buffers.size_ = size;
  buffers.entries_bytes_ = sizeof(io_uring_buf) * capacity;
  void* entries = mmap(nullptr, buffers.entries_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (entries == MAP_FAILED) return errno_error("mmap of a buffer ring");
  buffers.entries_ = static_cast<io_uring_buf_ring*>(entries);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<uint64_t>(entries);
  registration.ring_entries = capacity;
  registration.bgid = group;
  if (int err = io_uring_register_buf_ring(ring.get(), &registration, 0); err < 0) {
    munmap(entries, buffers.entries_bytes_);
    buffers.entries_ = nullptr;
    return Error::from_errno(-err, "IORING_REGISTER_PBUF_RING for group " + std::to_string(group));
  }
  io_uring_buf_ring_init(buffers.entries_);
  if (auto added = buffers.add_chunk(); !added) return added.take_error();
  return buffers;
}

Result<void> BufferRing::add_chunk() {
  size_t bytes = size_t{chunk_} * size_;
  // Reserved, not committed: pages count once a frame has been received into them.
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) return errno_error("mmap of " + std::to_string(bytes) + " bytes of receive buffers");
  chunks_.emplace_back(static_cast<uint8_t*>(memory), Unmapper{bytes});
  int mask = io_uring_buf_ring_mask(capacity_);
  for (unsigned i = 0; i < chunk_; i++) {
    auto id = static_cast<uint16_t>(count_ + i);
    io_uring_buf_ring_add(entries_, buffer(id), size_, id, mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(entries_, static_cast<int>(chunk_));
  count_ += chunk_;
  return {};
}

bool BufferRing::grow() {
  if (count_ >= capacity_) return false;
  for (unsigned target = count_ * 2; count_ < target;) {
    if (!add_chunk()) return false;
  }
  return true;
}

BufferRing::BufferRing(BufferRing&& other) noexcept
    : ring_(std::exchange(other.ring_, nullptr)),
      entries_(std::exchange(other.entries_, nullptr)),
      entries_bytes_(other.entries_bytes_),
      chunks_(std::move(other.chunks_)),
      group_(other.group_),
      capacity_(other.capacity_),
      chunk_(other.chunk_),
      count_(other.count_),
      size_(other.size_) {}

BufferRing::~BufferRing() {
  if (!entries_) return;
  io_uring_unregister_buf_ring(ring_, group_);
  munmap(entries_, entries_bytes_);
}

void BufferRing::recycle(uint16_t id) {
  io_uring_buf_ring_add(entries_, buffer(id), size_, id, io_uring_buf_ring_mask(capacity_), 0);
  io_uring_buf_ring_advance(entries_, 1);
}

}  // namespace vnet::uring
