// SplitQueue - the driver's side of one split virtqueue (virtio 1.x, 2.6) in
// guest memory: descriptor table, available ring, used ring. Single buffers
// only (no chains, no indirect descriptors), no event index.
#pragma once

#include <cstdint>
#include <optional>

#include "kernel_ifaces/result.h"
#include "virtio/guest_memory.h"

namespace vnet::virtio {

struct UsedBuffer {
  uint16_t id;   // the head descriptor's index
  uint32_t len;  // bytes the device wrote into it
};

class SplitQueue {
 public:
  // size: a power of two, at most 32768.
  static Result<SplitQueue> create(GuestMemory& memory, uint16_t size);

  uint16_t size() const { return size_; }
  // The rings' addresses in this process (what VHOST_SET_VRING_ADDR takes).
  uint64_t desc_user_addr() const { return memory_->userspace_addr_of(desc_gpa_); }
  uint64_t avail_user_addr() const { return memory_->userspace_addr_of(avail_gpa_); }
  uint64_t used_user_addr() const { return memory_->userspace_addr_of(used_gpa_); }

  // Points descriptor id at [gpa, gpa+len) and offers it to the device.
  // device_writes: a receive buffer (VRING_DESC_F_WRITE).
  void make_available(uint16_t id, uint64_t gpa, uint32_t len, bool device_writes);
  // The next buffer the device has used, if any.
  std::optional<UsedBuffer> take_used();

 private:
  SplitQueue(GuestMemory& memory, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
      : memory_(&memory), size_(size), desc_gpa_(desc), avail_gpa_(avail), used_gpa_(used) {}

  GuestMemory* memory_;
  uint16_t size_;
  uint64_t desc_gpa_, avail_gpa_, used_gpa_;
  uint16_t next_avail_ = 0;  // free-running, as the ring's idx
  uint16_t last_used_ = 0;
};

}  // namespace vnet::virtio
