// GuestMemory - memory a virtio driver in this process shares with a device (the
// lab's VMM, the vDPA self-test): a memfd mapped
// into this process, seen by the device at guest-physical addresses from
// gpa_base (deliberately not equal to the mapping's address, so that a device
// that forgets the translation faults instead of passing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::virtio {

class GuestMemory {
 public:
  static Result<std::unique_ptr<GuestMemory>> create(size_t size, uint64_t gpa_base);
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  uint64_t gpa_base() const { return gpa_base_; }
  size_t size() const { return size_; }
  uint64_t userspace_addr() const { return reinterpret_cast<uint64_t>(base_); }
  // The memfd behind it, for a device in another process (a vhost-user back end).
  int fd() const { return memfd_.get(); }

  // Where guest-physical [gpa, gpa+len) is in this process; nullptr when the
  // range is not all guest memory.
  uint8_t* host(uint64_t gpa, size_t len) const;
  // The host address of guest-physical gpa as an integer (for vring addresses).
  uint64_t userspace_addr_of(uint64_t gpa) const { return reinterpret_cast<uint64_t>(host(gpa, 0)); }

  // Carves [size] bytes aligned to [align] out of the memory; returns its gpa.
  Result<uint64_t> allocate(size_t size, size_t align);

 private:
  GuestMemory(UniqueFd memfd, uint8_t* base, size_t size, uint64_t gpa_base)
      : memfd_(std::move(memfd)), base_(base), size_(size), gpa_base_(gpa_base) {}

  UniqueFd memfd_;
  uint8_t* base_;
  size_t size_;
  uint64_t gpa_base_;
  size_t used_ = 0;
};

}  // namespace vnet::virtio
