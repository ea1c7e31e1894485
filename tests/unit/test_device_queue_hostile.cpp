// DeviceQueue against a driver that breaks the split ring's rules (virtio
// 1.2, 2.7): each case must be an Error that says what was wrong, and no byte
// outside the memory DeviceMemory hands out may be touched.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/virtio_test_ring.h"
#include "virtio/device_queue.h"

namespace vnet::virtio {
namespace {

using testing::kBuffers;
using testing::kIndirect;
using testing::kRegionB;
using testing::kUnmapped;
using testing::make_queue;
using testing::pop_error;
using testing::pop_one;
using testing::TestDriver;

#define EXPECT_SAYS(message, words) \
  EXPECT_NE((message).find(words), std::string::npos) << "message: " << (message)

TEST(DeviceQueueHostile, AvailIdxThatJumps) {
  TestDriver driver(8);
  driver.set_desc(0, kBuffers, 10);
  driver.offer(0);
  driver.set_avail_idx(9);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "avail idx jumped from 0 to 9");
}

TEST(DeviceQueueHostile, AvailIdxThatJumpsAcrossTheWrap) {
  TestDriver driver(8);
  driver.start_at(65530);
  DeviceQueue queue = make_queue(driver);
  driver.set_avail_idx(3);  // 9 entries on
  EXPECT_SAYS(pop_error(queue), "avail idx jumped from 65530 to 3");
}

TEST(DeviceQueueHostile, AvailIdxOfAFullRingIsFine) {
  TestDriver driver(8);
  for (uint16_t id = 0; id < 8; id++) {
    driver.set_desc(id, kBuffers, 10);
    driver.offer(id);
  }
  DeviceQueue queue = make_queue(driver);
  for (int i = 0; i < 8; i++) pop_one(queue);
  EXPECT_EQ(queue.in_flight(), 8);
}

TEST(DeviceQueueHostile, HeadOutsideTheQueue) {
  TestDriver driver(8);
  driver.offer(8);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "head 8 outside the queue");
}

TEST(DeviceQueueHostile, HeadOfferedAgainWhileInFlight) {
  TestDriver driver(8);
  driver.set_desc(2, kBuffers, 10);
  driver.offer(2);
  driver.offer(2);
  DeviceQueue queue = make_queue(driver);
  pop_one(queue);
  EXPECT_SAYS(pop_error(queue), "head 2 made available again");
}

TEST(DeviceQueueHostile, NextOutsideTheQueue) {
  TestDriver driver(8);
  driver.set_desc(0, kBuffers, 10, VRING_DESC_F_NEXT, 8);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "next 8 outside the queue");
}

TEST(DeviceQueueHostile, ChainThatLoops) {
  TestDriver driver(4);
  // 64 KiB buffers: without the loop check the walk would still end, at 4 GiB.
  driver.set_desc(0, kBuffers, 0x10000, VRING_DESC_F_NEXT, 1);
  driver.set_desc(1, kBuffers, 0x10000, VRING_DESC_F_NEXT, 0);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "longer than the queue");
}

TEST(DeviceQueueHostile, ReadableAfterWritable) {
  TestDriver driver(8);
  driver.set_desc(0, kBuffers, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
  driver.set_desc(1, kBuffers, 10);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "readable descriptor after a writable one");
}

TEST(DeviceQueueHostile, BufferNotMapped) {
  TestDriver driver(8);
  driver.set_desc(0, kUnmapped, 10);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "not mapped");
}

TEST(DeviceQueueHostile, BufferRunningOffTheEndOfMemory) {
  TestDriver driver(8);
  driver.set_desc(0, kRegionB + testing::kRegionBSize - 4, 8, VRING_DESC_F_WRITE);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "not mapped at 0x24000");
}

TEST(DeviceQueueHostile, BufferWhoseEndWrapsTheAddressSpace) {
  TestDriver driver(8);
  driver.set_desc(0, UINT64_MAX - 4, 16);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "not mapped");
}

TEST(DeviceQueueHostile, ChainLongerThan4GiB) {
  TestDriver driver(128);
  // Descriptors over the same 64 MiB: each is mapped, together they hold
  // 4 GiB - 1 bytes, and one more is past what a 32-bit length can say.
  constexpr uint64_t kBig = 0x10000000, kBigSize = 64ull << 20;
  driver.memory.add_region(kBig, kBigSize);
  for (uint16_t id = 0; id < 63; id++) driver.set_desc(id, kBig, kBigSize, VRING_DESC_F_NEXT, id + 1);
  driver.set_desc(63, kBig, kBigSize - 1, VRING_DESC_F_NEXT, 64);
  driver.set_desc(64, kBig, 1);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "descriptor 64: the chain's length passes 4 GiB");
  driver.set_desc(64, kBig, 0);
  DeviceQueue fresh = make_queue(driver);
  EXPECT_EQ(pop_one(fresh).readable_len, UINT32_MAX);
}

TEST(DeviceQueueHostile, IndirectNotNegotiated) {
  TestDriver driver(8);
  driver.set_table(kBuffers + 0x1000, {{kBuffers, 10, 0, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 16, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  EXPECT_SAYS(pop_error(queue), "VIRTIO_RING_F_INDIRECT_DESC was not negotiated");
}

TEST(DeviceQueueHostile, IndirectWithNext) {
  TestDriver driver(8);
  driver.set_table(kBuffers + 0x1000, {{kBuffers, 10, 0, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
  driver.set_desc(1, kBuffers, 10);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "INDIRECT together with NEXT");
}

TEST(DeviceQueueHostile, IndirectTableOfBadLength) {
  for (uint32_t len : {0u, 15u, 24u}) {
    TestDriver driver(8);
    driver.set_table(kBuffers + 0x1000, {{kBuffers, 10, 0, 0}, {kBuffers, 10, 0, 0}});
    driver.set_desc(0, kBuffers + 0x1000, len, VRING_DESC_F_INDIRECT);
    driver.offer(0);
    DeviceQueue queue = make_queue(driver, kIndirect);
    EXPECT_SAYS(pop_error(queue), "not a positive multiple of 16");
  }
}

TEST(DeviceQueueHostile, IndirectTableTooLong) {
  TestDriver driver(8);
  driver.set_desc(0, kUnmapped, 65537 * 16, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "more than 65536");
}

TEST(DeviceQueueHostile, IndirectTableNotMapped) {
  TestDriver driver(8);
  // Its first entry is mapped, its second is not: the whole table must be.
  uint64_t table = kRegionB + testing::kRegionBSize - 16;
  driver.set_table(table, {{kBuffers, 10, 0, 0}});
  driver.set_desc(0, table, 32, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "not mapped at 0x24000");
}

TEST(DeviceQueueHostile, IndirectTableAcrossRegionsIsFine) {
  TestDriver driver(8);
  uint64_t table = kRegionB - 8;  // its one descriptor straddles the regions
  vring_desc entry{kBuffers, 10, VRING_DESC_F_WRITE, 0};
  std::memcpy(driver.memory.host(table, 8), &entry, 8);
  std::memcpy(driver.memory.host(kRegionB, 8), reinterpret_cast<uint8_t*>(&entry) + 8, 8);
  driver.set_desc(0, table, 16, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  Chain chain = pop_one(queue);
  EXPECT_EQ(chain.writable_len, 10u);
}

TEST(DeviceQueueHostile, NestedIndirect) {
  TestDriver driver(8);
  driver.set_table(kBuffers + 0x1000,
                   {{kBuffers, 10, VRING_DESC_F_NEXT, 1}, {kBuffers + 0x1000, 32, VRING_DESC_F_INDIRECT, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 32, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "INDIRECT inside an indirect table");
}

TEST(DeviceQueueHostile, IndirectChainThatLoops) {
  TestDriver driver(8);
  // 64 KiB buffers: without the loop check the walk would still end, at 4 GiB.
  driver.set_table(kBuffers + 0x1000,
                   {{kBuffers, 0x10000, VRING_DESC_F_NEXT, 1}, {kBuffers, 0x10000, VRING_DESC_F_NEXT, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 32, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "longer than the table");
}

TEST(DeviceQueueHostile, IndirectNextOutsideTheTable) {
  TestDriver driver(8);
  // Entry 2 would be mapped (and zero): only the table's count forbids it.
  driver.set_table(kBuffers + 0x1000, {{kBuffers, 10, VRING_DESC_F_NEXT, 2}, {kBuffers, 10, 0, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 32, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "next 2 outside the table of 2");
}

TEST(DeviceQueueHostile, ReadableAfterWritableInsideIndirect) {
  TestDriver driver(8);
  driver.set_table(kBuffers + 0x1000,
                   {{kBuffers, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1}, {kBuffers, 10, 0, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 32, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "readable descriptor after a writable one");
}

TEST(DeviceQueueHostile, IndirectBufferNotMapped) {
  TestDriver driver(8);
  driver.set_table(kBuffers + 0x1000, {{kUnmapped, 10, 0, 0}});
  driver.set_desc(0, kBuffers + 0x1000, 16, VRING_DESC_F_INDIRECT);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, kIndirect);
  EXPECT_SAYS(pop_error(queue), "buffer 0x100000+10 not mapped");
}

}  // namespace
}  // namespace vnet::virtio
