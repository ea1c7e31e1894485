// MemoryTable - the front end's memory as the vhost-user back end maps it:
// regions from SET_MEM_TABLE (or ADD/REM_MEM_REG) mmapped from their fds,
// guest-physical and front-end virtual addresses translated to host bytes,
// and the dirty log (SET_LOG_BASE) a live migration reads. Every address a
// driver or front end gives is checked here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/vhost_user/vhost_user_message.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"
#include "virtio/device_memory.h"

namespace vnet::vhost_user {

// One mmap(); unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  // MAP_SHARED, read and write, [0, length) of fd. `what` names it in the Error.
  static Result<Mapping> map_shared(int fd, uint64_t length, const std::string& what);
  Mapping(Mapping&& other) noexcept { *this = std::move(other); }
  Mapping& operator=(Mapping&& other) noexcept;
  ~Mapping() { reset(); }

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void reset();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct RegionWithFd {
  RegionDescription description;
  UniqueFd fd;
};

class MemoryTable : public virtio::DeviceMemory {
 public:
  // How many regions ADD_MEM_REG may build up: the value GET_MAX_MEM_SLOTS
  // answers (as libvhost-user's VHOST_USER_MAX_RAM_SLOTS); QEMU caps it at
  // its own slots.
  static constexpr size_t kMaxSlots = 32;

  MemoryTable() = default;
  MemoryTable(const MemoryTable&) = delete;
  MemoryTable& operator=(const MemoryTable&) = delete;

  // SET_MEM_TABLE: replaces every region. On an Error (zero size, a range
  // past 2^64, an overlap in either address space, an fd mmap refuses, more
  // than kMaxSlots) the table is as it was and nothing new stays mapped.
  Result<void> set_regions(std::vector<RegionWithFd> regions);
  // ADD_MEM_REG: one more region, checked against those mapped.
  Result<void> add_region(RegionWithFd region);
  // REM_MEM_REG: the region with this guest address, user address and size
  // (the mmap offset is ignored, as the spec says).
  Result<void> remove_region(const RegionDescription& region);
  size_t region_count() const { return regions_.size(); }

  // DeviceMemory: guest-physical addresses.
  std::span<uint8_t> translate_prefix(uint64_t gpa, uint64_t len) const override;
  // The same for front-end virtual addresses (SET_VRING_ADDR's rings).
  std::span<uint8_t> translate_user_prefix(uint64_t uva, uint64_t len) const;
  // All of [addr, addr+len) when it lies inside one region, else empty:
  // a ring must be contiguous in host memory.
  std::span<uint8_t> translate_whole(uint64_t gpa, uint64_t len) const;
  std::span<uint8_t> translate_user_whole(uint64_t uva, uint64_t len) const;

  // SET_LOG_BASE: maps [offset, offset+size) of fd as the dirty bitmap
  // (bit n for guest-physical page n), replacing any earlier log.
  Result<void> set_log(UniqueFd fd, uint64_t size, uint64_t offset);
  // The log is the front end's, set apart from the memory table: a table
  // that replaces another (SET_MEM_TABLE while migrating) takes its log.
  void adopt_log(MemoryTable& replaced);
  // On while the acked features include VHOST_F_LOG_ALL.
  void set_logging(bool on) { logging_ = on; }
  bool logging() const { return logging_; }
  void log_write(uint64_t gpa, uint64_t len) override;
  // Pages written while logging that the log was too small to mark.
  uint64_t pages_beyond_log() const { return pages_beyond_log_; }
  // Pages marked dirty in the log (a page written twice counts twice).
  uint64_t pages_logged() const { return pages_logged_; }

 private:
  struct Region {
    RegionDescription description;
    Mapping mapping;
    uint8_t* host = nullptr;  // guest_phys_addr's byte: mapping + mmap_offset
  };
  enum class Space { guest_physical, user };

  static Result<Region> map_region(RegionWithFd region);
  // Checks `candidates` (sorted by guest address) for overlaps with each other.
  static Result<void> check_disjoint(const std::vector<const RegionDescription*>& regions);
  void rebuild_user_index();
  const Region* find(Space space, uint64_t addr) const;
  std::span<uint8_t> translate(Space space, uint64_t addr, uint64_t len, bool whole) const;

  std::vector<Region> regions_;           // sorted by guest_phys_addr
  std::vector<const Region*> by_user_;    // the same, sorted by userspace_addr
  Mapping log_mapping_;
  std::span<uint8_t> log_;
  bool logging_ = false;
  uint64_t pages_beyond_log_ = 0;
  uint64_t pages_logged_ = 0;
};

}  // namespace vnet::vhost_user
