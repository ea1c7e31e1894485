// The vhost-user memory table: regions mmapped from memfds as SET_MEM_TABLE
// and ADD/REM_MEM_REG give them, what is refused (and left unmapped), the
// translation of guest-physical and front-end virtual ranges at region
// edges, and the dirty log's bits.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "backends/vhost_user/memory_table.h"
#include "tests/unit/vhost_user_test_fds.h"

namespace vnet::vhost_user {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

using test::make_memfd;

RegionWithFd region(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t offset = 0,
                    const char* name = "vhost-user-memory") {
  return RegionWithFd{{gpa, size, uva, offset}, make_memfd(offset + size, name)};
}

std::vector<RegionWithFd> regions_of(RegionWithFd a) {
  std::vector<RegionWithFd> out;
  out.push_back(std::move(a));
  return out;
}
std::vector<RegionWithFd> regions_of(RegionWithFd a, RegionWithFd b) {
  std::vector<RegionWithFd> out = regions_of(std::move(a));
  out.push_back(std::move(b));
  return out;
}

// How many of this process's mappings are of memfds named `name`.
int mappings_named(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) count += line.find("memfd:" + name) != std::string::npos;
  return count;
}

TEST(VhostUserMemory, MapsEachRegionFromItsMmapOffset) {
  RegionWithFd r = region(0x10000, 0x2000, 0x7f00'0000'0000, 0x3000);
  const char marker[] = "first byte of the region";
  ASSERT_EQ(pwrite(r.fd.get(), marker, sizeof marker, 0x3000), static_cast<ssize_t>(sizeof marker));
  MemoryTable table;
  ASSERT_TRUE(table.set_regions(regions_of(std::move(r))).ok());
  std::span<uint8_t> bytes = table.translate_prefix(0x10000, sizeof marker);
  ASSERT_EQ(bytes.size(), sizeof marker);
  EXPECT_STREQ(reinterpret_cast<const char*>(bytes.data()), marker);
  // The same byte by the front end's address.
  EXPECT_EQ(table.translate_user_prefix(0x7f00'0000'0000, 1).data(), bytes.data());
}

TEST(VhostUserMemory, TranslatesPrefixesAtRegionEdges) {
  MemoryTable table;
  ASSERT_TRUE(table.set_regions(regions_of(region(0x10000, 0x2000, 0x50000))).ok());
  EXPECT_EQ(table.translate_prefix(0x10000, 0x2000).size(), 0x2000u);
  EXPECT_EQ(table.translate_prefix(0x11fff, 1).size(), 1u);
  EXPECT_EQ(table.translate_prefix(0x11fff, 100).size(), 1u);  // the prefix inside
  EXPECT_EQ(table.translate_prefix(0x11000, 0x5000).size(), 0x1000u);
  EXPECT_TRUE(table.translate_prefix(0x12000, 1).empty());
  EXPECT_TRUE(table.translate_prefix(0xffff, 2).empty());  // starts outside
  EXPECT_TRUE(table.translate_prefix(0x10000, 0).empty());
  EXPECT_TRUE(table.translate_prefix(0x10000, kMax).empty());  // passes 2^64
  EXPECT_TRUE(table.translate_prefix(0, 1).empty());
  EXPECT_EQ(table.translate_prefix(0x11000, 1).data(), table.translate_prefix(0x10000, 1).data() + 0x1000);
  // The user address space is its own.
  EXPECT_TRUE(table.translate_user_prefix(0x10000, 1).empty());
  EXPECT_EQ(table.translate_user_prefix(0x51ffe, 4).size(), 2u);
  EXPECT_TRUE(table.translate_user_prefix(0x52000, 1).empty());
}

TEST(VhostUserMemory, AdjacentRegionsAreWalkedPrefixByPrefix) {
  MemoryTable table;
  // Adjacent in guest-physical space, apart in the front end's.
  ASSERT_TRUE(table.set_regions(regions_of(region(0x2000, 0x1000, 0x90000), region(0, 0x2000, 0x40000))).ok());
  std::span<uint8_t> first = table.translate_prefix(0x1800, 0x1000);
  EXPECT_EQ(first.size(), 0x800u);
  std::span<uint8_t> second = table.translate_prefix(0x1800 + first.size(), 0x1000 - first.size());
  EXPECT_EQ(second.size(), 0x800u);
  EXPECT_EQ(second.data(), table.translate_user_prefix(0x90000, 1).data());
  // A ring must lie in one region.
  EXPECT_TRUE(table.translate_whole(0x1800, 0x1000).empty());
  EXPECT_EQ(table.translate_whole(0x1800, 0x800).size(), 0x800u);
  EXPECT_EQ(table.translate_whole(0x2000, 0x1000).size(), 0x1000u);
  EXPECT_TRUE(table.translate_whole(0x2000, 0x1001).empty());
  EXPECT_EQ(table.translate_user_whole(0x41000, 0x1000).size(), 0x1000u);
  EXPECT_TRUE(table.translate_user_whole(0x41000, 0x1001).empty());
}

TEST(VhostUserMemory, RefusesBadRegionsAndKeepsTheTableItHad) {
  MemoryTable table;
  ASSERT_TRUE(table.set_regions(regions_of(region(0, 0x1000, 0x1000))).ok());
  auto refused = [&](std::vector<RegionWithFd> regions) {
    Result<void> result = table.set_regions(std::move(regions));
    EXPECT_EQ(table.region_count(), 1u);
    EXPECT_EQ(table.translate_prefix(0, 1).size(), 1u);
    return result.ok() ? std::string("accepted") : result.error().message;
  };
  EXPECT_EQ(refused(regions_of(RegionWithFd{{0x4000, 0, 0x4000, 0}, make_memfd(0x1000)})),
            "region at guest 0x4000 (user 0x4000, 0 bytes): size 0: Invalid argument");
  EXPECT_EQ(refused(regions_of(RegionWithFd{{kMax - 0xfff, 0x2000, 0x1000, 0}, make_memfd(0x1000)})),
            "region at guest 0xfffffffffffff000 (user 0x1000, 8192 bytes): guest-physical range passes 2^64: "
            "Invalid argument");
  EXPECT_EQ(refused(regions_of(RegionWithFd{{0x1000, 0x2000, kMax - 0xfff, 0}, make_memfd(0x1000)})),
            "region at guest 0x1000 (user 0xfffffffffffff000, 8192 bytes): user range passes 2^64: Invalid argument");
  EXPECT_EQ(refused(regions_of(RegionWithFd{{0x1000, 0x2000, 0x1000, kMax - 0xfff}, make_memfd(0x1000)})),
            "region at guest 0x1000 (user 0x1000, 8192 bytes): mmap offset 0xfffffffffffff000 plus size passes 2^64: "
            "Invalid argument");
  EXPECT_EQ(refused(regions_of(region(0, 0x2000, 0x10000), region(0x1fff, 0x1000, 0x20000))),
            "region at guest 0x1fff (user 0x20000, 4096 bytes) overlaps the region at guest 0x0 (user 0x10000, 8192 "
            "bytes) in guest-physical space: Invalid argument");
  EXPECT_EQ(refused(regions_of(region(0, 0x2000, 0x10000), region(0x2000, 0x1000, 0x11000))),
            "region at guest 0x2000 (user 0x11000, 4096 bytes) overlaps the region at guest 0x0 (user 0x10000, 8192 "
            "bytes) in front-end virtual space: Invalid argument");
  std::vector<RegionWithFd> too_many;
  for (uint64_t i = 0; i <= MemoryTable::kMaxSlots; i++) too_many.push_back(region(i * 0x1000, 0x1000, i * 0x1000));
  EXPECT_EQ(refused(std::move(too_many)), "33 memory regions, more than the 32 slots: No space left on device");
}

TEST(VhostUserMemory, ARegionMayEndAtTheTopOfTheAddressSpace) {
  MemoryTable table;
  ASSERT_TRUE(table.set_regions(regions_of(region(kMax - 0xfff, 0x1000, kMax - 0xfff))).ok());
  EXPECT_EQ(table.translate_prefix(kMax, 1).size(), 1u);
  EXPECT_EQ(table.translate_prefix(kMax - 1, 2).size(), 2u);
  EXPECT_TRUE(table.translate_prefix(kMax, 2).empty());  // passes 2^64
  EXPECT_EQ(table.translate_user_whole(kMax - 0xfff, 0x1000).size(), 0x1000u);
}

TEST(VhostUserMemory, AnUnmappableFdLeavesNothingMapped) {
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  UniqueFd write_end(ends[1]);
  MemoryTable table;
  Result<void> result = table.set_regions(
      regions_of(region(0, 0x1000, 0x1000, 0, "vhost-user-leak-check"), RegionWithFd{{0x1000, 0x1000, 0x2000, 0}, UniqueFd(ends[0])}));
  ASSERT_FALSE(result.ok());
  // A pipe's read end: mmap refuses a shared writable mapping of it.
  EXPECT_EQ(result.error().errnum, EACCES);
  EXPECT_EQ(result.error().message,
            "mmap of region at guest 0x1000 (user 0x2000, 4096 bytes): Permission denied");
  EXPECT_EQ(mappings_named("vhost-user-leak-check"), 0);
  EXPECT_EQ(table.region_count(), 0u);

  ASSERT_TRUE(table.set_regions(regions_of(region(0, 0x1000, 0x1000, 0, "vhost-user-leak-check"))).ok());
  EXPECT_EQ(mappings_named("vhost-user-leak-check"), 1);
  ASSERT_TRUE(table.set_regions(regions_of(region(0, 0x1000, 0x1000))).ok());
  EXPECT_EQ(mappings_named("vhost-user-leak-check"), 0);  // replaced: unmapped
}

TEST(VhostUserMemory, AddAndRemoveRegionsOneByOne) {
  MemoryTable table;
  ASSERT_TRUE(table.add_region(region(0x100000, 0x1000, 0x7000, 0, "vhost-user-slot")).ok());
  ASSERT_TRUE(table.add_region(region(0, 0x1000, 0x9000)).ok());
  EXPECT_EQ(table.region_count(), 2u);
  EXPECT_EQ(table.translate_prefix(0x100000, 0x10).size(), 0x10u);
  EXPECT_EQ(table.translate_prefix(0, 0x10).size(), 0x10u);
  Result<void> overlap = table.add_region(region(0x100800, 0x1000, 0x20000));
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.error().message.find("overlaps"), std::string::npos);
  EXPECT_EQ(table.region_count(), 2u);

  // Identified by guest address, user address and size; the offset is ignored.
  EXPECT_EQ(table.remove_region({0x100000, 0x2000, 0x7000, 0}).error().errnum, ENOENT);
  ASSERT_TRUE(table.remove_region({0x100000, 0x1000, 0x7000, 0x5000}).ok());
  EXPECT_TRUE(table.translate_prefix(0x100000, 1).empty());
  EXPECT_TRUE(table.translate_user_prefix(0x7000, 1).empty());
  EXPECT_EQ(table.translate_user_prefix(0x9000, 1).size(), 1u);
  EXPECT_EQ(mappings_named("vhost-user-slot"), 0);

  for (uint64_t i = 1; i < MemoryTable::kMaxSlots; i++) {
    ASSERT_TRUE(table.add_region(region(i * 0x1000, 0x1000, 0x100000 + i * 0x1000)).ok()) << i;
  }
  Result<void> full = table.add_region(region(0x200000, 0x1000, 0x200000));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().errnum, ENOSPC);
}

// The log's byte i, as the front end sees it through its own mapping.
struct FrontEndLog {
  UniqueFd fd = make_memfd(0x1000);
  static constexpr uint64_t kOffset = 0x10;
  uint8_t byte(size_t i) const {
    uint8_t value = 0;
    EXPECT_EQ(pread(fd.get(), &value, 1, kOffset + i), 1);
    return value;
  }
  UniqueFd dup_fd() const { return UniqueFd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0)); }
};

TEST(VhostUserMemory, DirtyLogMarksPagesOnlyWhileLogging) {
  FrontEndLog front;
  MemoryTable table;
  ASSERT_TRUE(table.set_log(front.dup_fd(), 2, FrontEndLog::kOffset).ok());  // 16 pages
  table.log_write(0x1000, 1);
  EXPECT_EQ(front.byte(0), 0);  // logging is off

  table.set_logging(true);
  table.log_write(0x1000, 1);
  EXPECT_EQ(front.byte(0), 0b10);
  table.log_write(0x2fff, 2);  // pages 2 and 3
  EXPECT_EQ(front.byte(0), 0b1110);
  table.log_write(0x8000, 0x8000);  // pages 8-15: a whole byte
  EXPECT_EQ(front.byte(1), 0xff);
  table.log_write(0x5000, 0);
  EXPECT_EQ(front.byte(0), 0b1110);
  EXPECT_EQ(front.byte(2), 0);  // the byte after the log is not ours
  EXPECT_EQ(table.pages_beyond_log(), 0u);

  table.log_write(0xf000, 0x3000);  // page 15 inside, 16 and 17 beyond
  EXPECT_EQ(table.pages_beyond_log(), 2u);
  EXPECT_EQ(front.byte(2), 0);
  table.log_write(kMax - 10, 100);  // clamped at 2^64, all beyond
  EXPECT_EQ(table.pages_beyond_log(), 3u);

  table.set_logging(false);
  table.log_write(0x4000, 1);
  EXPECT_EQ(front.byte(0), 0b1110);
}

TEST(VhostUserMemory, AReplacingTableKeepsTheLog) {
  FrontEndLog front;
  MemoryTable first;
  ASSERT_TRUE(first.set_regions(regions_of(region(0, 0x4000, 0x10000))).ok());
  ASSERT_TRUE(first.set_log(front.dup_fd(), 2, FrontEndLog::kOffset).ok());
  first.set_logging(true);
  first.log_write(0x1000, 1);
  EXPECT_EQ(front.byte(0), 0b10);

  // SET_MEM_TABLE during a migration: the new table writes into the same log.
  MemoryTable second;
  ASSERT_TRUE(second.set_regions(regions_of(region(0, 0x8000, 0x20000))).ok());
  second.set_logging(true);
  second.adopt_log(first);
  second.log_write(0x6000, 1);
  EXPECT_EQ(front.byte(0), 0b1000010);
  EXPECT_EQ(second.pages_logged(), 1u);
  first.log_write(0x2000, 1);  // the replaced table has no log left
  EXPECT_EQ(front.byte(0), 0b1000010);
}

TEST(VhostUserMemory, RefusesABadLog) {
  MemoryTable table;
  EXPECT_EQ(table.set_log(make_memfd(0x1000), 0, 0).error().message, "dirty log of 0 bytes: Invalid argument");
  EXPECT_FALSE(table.set_log(make_memfd(0x1000), 8, kMax - 4).ok());
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  UniqueFd write_end(ends[1]);
  Result<void> pipe_log = table.set_log(UniqueFd(ends[0]), 8, 0);
  ASSERT_FALSE(pipe_log.ok());
  EXPECT_EQ(pipe_log.error().errnum, EACCES);
  EXPECT_EQ(pipe_log.error().message, "mmap of the dirty log of 8 bytes at offset 0x0: Permission denied");
  table.set_logging(true);
  table.log_write(0, 1);  // no log mapped: nothing to mark, no crash
  EXPECT_EQ(table.pages_beyond_log(), 0u);
}

}  // namespace
}  // namespace vnet::vhost_user
