// uring - thin RAII wrappers over liburing for the userspace datapath: a
// ring, and a ring of provided buffers the kernel picks receive buffers from
// (IORING_REGISTER_PBUF_RING), so receives stay posted with no per-frame
// allocation.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet::uring {

class Ring {
 public:
  // flags: IORING_SETUP_*; io_uring_queue_init's error when the kernel
  // lacks one.
  static Result<Ring> create(unsigned entries, unsigned flags = 0);
  Ring(Ring&& other) noexcept;
  Ring& operator=(Ring&&) = delete;
  ~Ring();

  io_uring* get() { return ring_.get(); }
  // The next free submission entry; when the queue is full, what is queued
  // is submitted first. nullptr only if that submission fails.
  io_uring_sqe* sqe();
  Result<unsigned> submit();
  Result<unsigned> submit_and_wait(unsigned count);
  // Submits, and enters the kernel to run the completions' pending work
  // (COOP_TASKRUN, DEFER_TASKRUN) without
  // waiting, so that what is ready is in the completion queue.
  Result<unsigned> submit_and_get_events();
  unsigned flags() const { return flags_; }
  // fn(const io_uring_cqe&) for every completion ready now; returns how many.
  template <typename F>
  unsigned drain(F&& fn) {
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      fn(*cqe);
      seen++;
    }
    io_uring_cq_advance(ring_.get(), seen);
    return seen;
  }
  // An eventfd the kernel signals on each completion: how an epoll loop
  // learns there is something to drain.
  Result<void> register_eventfd(int fd);

 private:
  Ring(std::unique_ptr<io_uring> ring, unsigned flags) : ring_(std::move(ring)), flags_(flags) {}
  std::unique_ptr<io_uring> ring_;
  unsigned flags_ = 0;
};

// Buffers of size bytes in buffer group `group`. A receive with
// IOSQE_BUFFER_SELECT takes one; the completion says which (buffer_id());
// recycle() hands it back once its frame has been used. The ring has room
// for `capacity` buffers but starts with `initial` (both powers of two):
// grow() doubles them when the kernel ran out (ENOBUFS), so an idle receiver
// holds little. Buffer memory is mmap'd, so freeing returns it to the system.
class BufferRing {
 public:
  static Result<BufferRing> create(Ring& ring, uint16_t group, unsigned capacity, unsigned size, unsigned initial = 0);
  BufferRing(BufferRing&& other) noexcept;
  BufferRing& operator=(BufferRing&&) = delete;
  ~BufferRing();

  uint16_t group() const { return group_; }
  unsigned size() const { return size_; }
  unsigned count() const { return count_; }
  unsigned capacity() const { return capacity_; }
  uint8_t* buffer(uint16_t id) { return chunks_[id / chunk_].get() + size_t{id % chunk_} * size_; }
  void recycle(uint16_t id);
  // Doubles the buffers, up to capacity; false when already full or out of memory.
  bool grow();
  // The buffer a completion used, if it used one.
  static bool has_buffer(const io_uring_cqe& cqe) { return cqe.flags & IORING_CQE_F_BUFFER; }
  static uint16_t buffer_id(const io_uring_cqe& cqe) { return static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT); }

 private:
  struct Unmapper {
    size_t bytes = 0;
    void operator()(uint8_t* p) const;
  };
  using Chunk = std::unique_ptr<uint8_t[], Unmapper>;
  BufferRing() = default;
  // Maps `chunk_` more buffers and gives them to the kernel.
  Result<void> add_chunk();

  io_uring* ring_ = nullptr;
  io_uring_buf_ring* entries_ = nullptr;  // mmap'd, shared with the kernel
  size_t entries_bytes_ = 0;
  std::vector<Chunk> chunks_;
  uint16_t group_ = 0;
  unsigned capacity_ = 0;
  unsigned chunk_ = 0;  // buffers per chunk
  unsigned count_ = 0;
  unsigned size_ = 0;
};

}  // namespace vnet::uring
