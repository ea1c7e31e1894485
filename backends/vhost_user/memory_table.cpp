#include "backends/vhost_user/memory_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

namespace vnet::vhost_user {
namespace {

constexpr uint64_t kMaxAddress = std::numeric_limits<uint64_t>::max();

std::string hex(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// The last byte of [start, start+size) when that range is not empty and
// does not pass 2^64.
bool last_address(uint64_t start, uint64_t size, uint64_t& last) {
  if (size == 0 || size - 1 > kMaxAddress - start) return false;
  last = start + (size - 1);
  return true;
}

std::string describe(const RegionDescription& region) {
  return "region at guest " + hex(region.guest_phys_addr) + " (user " + hex(region.userspace_addr) + ", " +
         std::to_string(region.memory_size) + " bytes)";
}

Result<void> check_ranges(const RegionDescription& region) {
  uint64_t last;
  if (region.memory_size == 0) return Error::from_errno(EINVAL, describe(region) + ": size 0");
  if (!last_address(region.guest_phys_addr, region.memory_size, last)) {
    return Error::from_errno(EINVAL, describe(region) + ": guest-physical range passes 2^64");
  }
  if (!last_address(region.userspace_addr, region.memory_size, last)) {
    return Error::from_errno(EINVAL, describe(region) + ": user range passes 2^64");
  }
  if (region.memory_size > kMaxAddress - region.mmap_offset) {
    return Error::from_errno(EINVAL, describe(region) + ": mmap offset " + hex(region.mmap_offset) +
                                         " plus size passes 2^64");
  }
  return {};
}

// Sorted by the start `start_of` picks, neighbours must not share a byte.
template <typename StartOf>
Result<void> check_no_overlap(std::vector<const RegionDescription*> regions, StartOf start_of, const char* space) {
  std::sort(regions.begin(), regions.end(),
            [&](const RegionDescription* a, const RegionDescription* b) { return start_of(*a) < start_of(*b); });
  for (size_t i = 1; i < regions.size(); i++) {
    const RegionDescription& before = *regions[i - 1];
    if (start_of(*regions[i]) - start_of(before) < before.memory_size) {
      return Error::from_errno(EINVAL, describe(*regions[i]) + " overlaps the " + describe(before) + " in " + space +
                                           " space");
    }
  }
  return {};
}

}  // namespace

Result<Mapping> Mapping::map_shared(int fd, uint64_t length, const std::string& what) {
  if (length == 0 || length > std::numeric_limits<size_t>::max()) {
    return Error::from_errno(EINVAL, "mmap of " + what + ": length " + std::to_string(length));
  }
  void* data = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return errno_error("mmap of " + what);
  Mapping mapping;
  mapping.data_ = static_cast<uint8_t*>(data);
  mapping.size_ = length;
  return mapping;
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Mapping::reset() {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

Result<MemoryTable::Region> MemoryTable::map_region(RegionWithFd region) {
  const RegionDescription& d = region.description;
  // From the fd's start, as QEMU's libvhost-user does: the offset need not be
  // page-aligned.
  Result<Mapping> mapping = Mapping::map_shared(region.fd.get(), d.mmap_offset + d.memory_size, describe(d));
  if (!mapping) return mapping.take_error();
  uint8_t* host = mapping->data() + d.mmap_offset;
  return Region{d, std::move(*mapping), host};
}

Result<void> MemoryTable::check_disjoint(const std::vector<const RegionDescription*>& regions) {
  if (regions.size() > kMaxSlots) {
    return Error::from_errno(ENOSPC, std::to_string(regions.size()) + " memory regions, more than the " +
                                         std::to_string(kMaxSlots) + " slots");
  }
  for (const RegionDescription* region : regions) {
    if (auto ok = check_ranges(*region); !ok) return ok;
  }
  auto ok = check_no_overlap(regions, [](const RegionDescription& r) { return r.guest_phys_addr; }, "guest-physical");
  if (!ok) return ok;
  return check_no_overlap(regions, [](const RegionDescription& r) { return r.userspace_addr; }, "front-end virtual");
}

Result<void> MemoryTable::set_regions(std::vector<RegionWithFd> regions) {
  std::vector<const RegionDescription*> descriptions;
  for (const RegionWithFd& region : regions) descriptions.push_back(&region.description);
  if (auto ok = check_disjoint(descriptions); !ok) return ok;
  std::vector<Region> mapped;  // unmapped again if a later region fails
  for (RegionWithFd& region : regions) {
    Result<Region> one = map_region(std::move(region));
    if (!one) return one.take_error();
    mapped.push_back(std::move(*one));
  }
  std::sort(mapped.begin(), mapped.end(), [](const Region& a, const Region& b) {
    return a.description.guest_phys_addr < b.description.guest_phys_addr;
  });
  regions_ = std::move(mapped);
  rebuild_user_index();
  return {};
}

Result<void> MemoryTable::add_region(RegionWithFd region) {
  std::vector<const RegionDescription*> descriptions;
  for (const Region& existing : regions_) descriptions.push_back(&existing.description);
  descriptions.push_back(&region.description);
  if (auto ok = check_disjoint(descriptions); !ok) return ok;
  Result<Region> mapped = map_region(std::move(region));
  if (!mapped) return mapped.take_error();
  auto at = std::upper_bound(regions_.begin(), regions_.end(), mapped->description.guest_phys_addr,
                             [](uint64_t gpa, const Region& r) { return gpa < r.description.guest_phys_addr; });
  regions_.insert(at, std::move(*mapped));
  rebuild_user_index();
  return {};
}

Result<void> MemoryTable::remove_region(const RegionDescription& region) {
  auto match = std::find_if(regions_.begin(), regions_.end(), [&](const Region& r) {
    return r.description.guest_phys_addr == region.guest_phys_addr &&
           r.description.userspace_addr == region.userspace_addr && r.description.memory_size == region.memory_size;
  });
  if (match == regions_.end()) return Error::from_errno(ENOENT, "removing " + describe(region) + ": not mapped");
  regions_.erase(match);
  rebuild_user_index();
  return {};
}

void MemoryTable::rebuild_user_index() {
  by_user_.clear();
  for (const Region& region : regions_) by_user_.push_back(&region);
  std::sort(by_user_.begin(), by_user_.end(), [](const Region* a, const Region* b) {
    return a->description.userspace_addr < b->description.userspace_addr;
  });
}

const MemoryTable::Region* MemoryTable::find(Space space, uint64_t addr) const {
  // The region with the greatest start <= addr, if addr is inside it.
  const Region* candidate = nullptr;
  if (space == Space::guest_physical) {
    auto after = std::upper_bound(regions_.begin(), regions_.end(), addr,
                                  [](uint64_t a, const Region& r) { return a < r.description.guest_phys_addr; });
    if (after != regions_.begin()) candidate = &*std::prev(after);
  } else {
    auto after = std::upper_bound(by_user_.begin(), by_user_.end(), addr,
                                  [](uint64_t a, const Region* r) { return a < r->description.userspace_addr; });
    if (after != by_user_.begin()) candidate = *std::prev(after);
  }
  if (!candidate) return nullptr;
  const RegionDescription& d = candidate->description;
  uint64_t start = space == Space::guest_physical ? d.guest_phys_addr : d.userspace_addr;
  return addr - start < d.memory_size ? candidate : nullptr;
}

std::span<uint8_t> MemoryTable::translate(Space space, uint64_t addr, uint64_t len, bool whole) const {
  uint64_t last;
  if (!last_address(addr, len, last)) return {};
  const Region* region = find(space, addr);
  if (!region) return {};
  const RegionDescription& d = region->description;
  uint64_t offset = addr - (space == Space::guest_physical ? d.guest_phys_addr : d.userspace_addr);
  uint64_t inside = std::min(len, d.memory_size - offset);
  if (whole && inside < len) return {};
  return {region->host + offset, static_cast<size_t>(inside)};
}

std::span<uint8_t> MemoryTable::translate_prefix(uint64_t gpa, uint64_t len) const {
  return translate(Space::guest_physical, gpa, len, false);
}

std::span<uint8_t> MemoryTable::translate_user_prefix(uint64_t uva, uint64_t len) const {
  return translate(Space::user, uva, len, false);
}

std::span<uint8_t> MemoryTable::translate_whole(uint64_t gpa, uint64_t len) const {
  return translate(Space::guest_physical, gpa, len, true);
}

std::span<uint8_t> MemoryTable::translate_user_whole(uint64_t uva, uint64_t len) const {
  return translate(Space::user, uva, len, true);
}

Result<void> MemoryTable::set_log(UniqueFd fd, uint64_t size, uint64_t offset) {
  if (size == 0) return Error::from_errno(EINVAL, "dirty log of 0 bytes");
  if (size > kMaxAddress - offset) {
    return Error::from_errno(EINVAL, "dirty log of " + std::to_string(size) + " bytes at offset " + hex(offset) +
                                         ": passes 2^64");
  }
  Result<Mapping> mapping = Mapping::map_shared(
      fd.get(), offset + size, "the dirty log of " + std::to_string(size) + " bytes at offset " + hex(offset));
  if (!mapping) return mapping.take_error();
  log_mapping_ = std::move(*mapping);
  log_ = {log_mapping_.data() + offset, static_cast<size_t>(size)};
  return {};
}

void MemoryTable::adopt_log(MemoryTable& replaced) {
  log_mapping_ = std::move(replaced.log_mapping_);  // the mapping moves; its address, and log_, stay valid
  log_ = std::exchange(replaced.log_, {});
}

void MemoryTable::log_write(uint64_t gpa, uint64_t len) {
  if (!logging_ || log_.empty() || len == 0) return;
  uint64_t first = gpa / VHOST_LOG_PAGE;
  uint64_t last_byte = len - 1 > kMaxAddress - gpa ? kMaxAddress : gpa + (len - 1);
  uint64_t last = last_byte / VHOST_LOG_PAGE;
  uint64_t log_pages = uint64_t{log_.size()} * 8;  // a log of 2^61 bytes cannot be mapped
  if (last >= log_pages) {
    pages_beyond_log_ += last - std::max(first, log_pages) + 1;
    if (first >= log_pages) return;
    last = log_pages - 1;
  }
  pages_logged_ += last - first + 1;
  // The front end reads and clears the bitmap concurrently: atomic ORs, with
  // release so that whoever sees a bit also sees the page's new bytes.
  for (uint64_t page = first; page <= last;) {
    uint8_t* byte = &log_[page / 8];
    if (page % 8 == 0 && last - page >= 7) {
      __atomic_fetch_or(byte, uint8_t{0xff}, __ATOMIC_RELEASE);
      page += 8;
    } else {
      __atomic_fetch_or(byte, static_cast<uint8_t>(1u << (page % 8)), __ATOMIC_RELEASE);
      page++;
    }
  }
}

}  // namespace vnet::vhost_user
