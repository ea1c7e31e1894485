// DeviceQueue: chains as a driver makes them available, used entries as it
// reads them back, notification decisions, the dirty log, and every way a
// hostile driver can break the ring's rules.
#include "virtio/device_queue.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/unit/virtio_test_ring.h"

namespace vnet::virtio {
namespace {

using testing::kBuffers;
using testing::kEventIdx;
using testing::kIndirect;
using testing::kRegionB;
using testing::kUnmapped;
using testing::kUsedGpa;
using testing::TestDriver;
using testing::make_queue;
using testing::pop_one;

TEST(DeviceQueueCreate, RefusesSizesThatAreNotPowersOfTwo) {
  for (uint16_t num : {0, 3, 6, 255}) {
    TestDriver driver(num ? num : 1);
    QueueConfig config = driver.config(0);
    config.num = num;
    EXPECT_FALSE(DeviceQueue::create(config, driver.memory).ok()) << num;
  }
}

TEST(DeviceQueueCreate, NeedsTheEventIdxFieldsOnlyWithEventIdx) {
  TestDriver driver(8);
  QueueConfig config = driver.config(0);
  config.avail_ring = config.avail_ring.first(4 + 2 * 8);
  config.used_ring = config.used_ring.first(4 + 8 * 8);
  EXPECT_TRUE(DeviceQueue::create(config, driver.memory).ok());
  config.features = kEventIdx;
  auto refused = DeviceQueue::create(config, driver.memory);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("avail ring"), std::string::npos) << refused.error().message;
  config.avail_ring = driver.config(0).avail_ring;
  EXPECT_FALSE(DeviceQueue::create(config, driver.memory).ok());
  config.desc_table = config.desc_table.first(16 * 8 - 1);
  config.used_ring = driver.config(0).used_ring;
  EXPECT_FALSE(DeviceQueue::create(config, driver.memory).ok());
}

TEST(DeviceQueueCreate, RefusesMisalignedRings) {
  TestDriver driver(8);
  QueueConfig config = driver.config(0);
  config.used_ring = config.used_ring.subspan(2);
  EXPECT_FALSE(DeviceQueue::create(config, driver.memory).ok());
}

TEST(DeviceQueuePop, EmptyRingHasNoChain) {
  TestDriver driver(8);
  DeviceQueue queue = make_queue(driver);
  auto chain = queue.pop();
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_FALSE(chain->has_value());
}

TEST(DeviceQueuePop, SingleReadableBufferIsTranslated) {
  TestDriver driver(8);
  driver.fill(kBuffers, 60, 7);
  driver.set_desc(3, kBuffers, 60);
  driver.offer(3);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  EXPECT_EQ(chain.head, 3);
  ASSERT_EQ(chain.readable.size(), 1u);
  EXPECT_TRUE(chain.writable.empty());
  EXPECT_EQ(chain.readable_len, 60u);
  EXPECT_EQ(chain.readable[0].gpa, kBuffers);
  EXPECT_EQ(chain.readable[0].host.data(), driver.memory.host(kBuffers, 60));
  EXPECT_EQ(chain.readable[0].host.size(), 60u);
  EXPECT_EQ(chain.readable[0].host[0], 7);
  EXPECT_EQ(queue.last_avail_idx(), 1);
}

TEST(DeviceQueuePop, UnpoppedChainsComeBackInOrder) {
  TestDriver driver(8);
  for (uint16_t id : {2, 6, 4}) {
    driver.set_desc(id, kBuffers + 2048u * id, 256, VRING_DESC_F_WRITE);
    driver.offer(id);
  }
  DeviceQueue queue = make_queue(driver);
  Chain first = pop_one(queue);
  Chain second = pop_one(queue);
  Chain third = pop_one(queue);
  ASSERT_TRUE(queue.push_used(first.head, 10).ok());
  // The last two were taken for a frame that did not fit: they go back.
  const uint16_t heads[] = {second.head, third.head};
  ASSERT_TRUE(queue.unpop(heads).ok());
  EXPECT_EQ(queue.in_flight(), 0);
  EXPECT_EQ(queue.last_avail_idx(), 1);
  EXPECT_EQ(pop_one(queue).head, 6);
  EXPECT_EQ(pop_one(queue).head, 4);
  const uint16_t not_in_flight[] = {2};
  EXPECT_FALSE(queue.unpop(not_in_flight).ok()) << "a head already used is not the queue's to give back";
}

TEST(DeviceQueuePop, SingleWritableBufferIsUsedBack) {
  TestDriver driver(8);
  driver.set_desc(5, kBuffers, 1514, VRING_DESC_F_WRITE);
  driver.offer(5);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  EXPECT_TRUE(chain.readable.empty());
  ASSERT_EQ(chain.writable.size(), 1u);
  EXPECT_EQ(chain.writable_len, 1514u);
  EXPECT_EQ(queue.in_flight(), 1);
  ASSERT_TRUE(queue.push_used(chain.head, 100).ok());
  EXPECT_EQ(queue.in_flight(), 0);
  EXPECT_EQ(driver.used_idx(), 0) << "published before flush_used()";
  queue.flush_used();
  EXPECT_EQ(driver.used_idx(), 1);
  EXPECT_EQ(driver.used_elem(0).id, 5u);
  EXPECT_EQ(driver.used_elem(0).len, 100u);
}

TEST(DeviceQueuePop, ChainKeepsOrderAndSplitsByDirection) {
  TestDriver driver(8);
  driver.set_desc(6, kBuffers, 12, VRING_DESC_F_NEXT, 1);
  driver.set_desc(1, kBuffers + 0x100, 40, VRING_DESC_F_NEXT, 4);
  driver.set_desc(4, kBuffers + 0x200, 2000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
  driver.set_desc(0, kBuffers + 0x1000, 48, VRING_DESC_F_WRITE);
  driver.offer(6);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  EXPECT_EQ(chain.head, 6);
  ASSERT_EQ(chain.readable.size(), 2u);
  ASSERT_EQ(chain.writable.size(), 2u);
  EXPECT_EQ(chain.readable[1].gpa, kBuffers + 0x100);
  EXPECT_EQ(chain.writable[0].gpa, kBuffers + 0x200);
  EXPECT_EQ(chain.writable[1].gpa, kBuffers + 0x1000);
  EXPECT_EQ(chain.readable_len, 52u);
  EXPECT_EQ(chain.writable_len, 2048u);
}

TEST(DeviceQueuePop, IndirectTableIsWalked) {
  TestDriver driver(4);
  uint64_t table = kBuffers + 0x3000;
  driver.set_table(table, {{kBuffers, 12, VRING_DESC_F_NEXT, 2},
                           {kBuffers + 0x800, 100, VRING_DESC_F_WRITE, 0},
                           {kBuffers + 0x100, 30, VRING_DESC_F_NEXT, 1}});
  driver.set_desc(2, table, 3 * 16, VRING_DESC_F_INDIRECT);
  driver.offer(2);
  DeviceQueue queue = make_queue(driver, kIndirect);
  Chain chain = pop_one(queue);
  EXPECT_EQ(chain.head, 2);
  ASSERT_EQ(chain.readable.size(), 2u);
  ASSERT_EQ(chain.writable.size(), 1u);
  EXPECT_EQ(chain.readable[1].gpa, kBuffers + 0x100);
  EXPECT_EQ(chain.writable[0].gpa, kBuffers + 0x800);
  EXPECT_EQ(chain.readable_len, 42u);
  EXPECT_EQ(chain.writable_len, 100u);
}

TEST(DeviceQueuePop, BufferAcrossTwoRegionsIsTwoSegments) {
  TestDriver driver(8);
  driver.set_desc(0, kRegionB - 0x10, 0x30, VRING_DESC_F_WRITE);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  ASSERT_EQ(chain.writable.size(), 2u);
  EXPECT_EQ(chain.writable[0].host.size(), 0x10u);
  EXPECT_EQ(chain.writable[1].gpa, kRegionB);
  EXPECT_EQ(chain.writable[1].host.data(), driver.memory.host(kRegionB, 0x20));
  EXPECT_EQ(chain.writable[1].host.size(), 0x20u);
  EXPECT_EQ(chain.writable_len, 0x30u);
}

TEST(DeviceQueuePop, IndicesWrapAround) {
  TestDriver driver(4);
  driver.start_at(65534);
  for (uint16_t id = 0; id < 4; id++) driver.set_desc(id, kBuffers + 0x100 * id, 10 + id);
  for (uint16_t id : {2, 0, 3, 1}) driver.offer(id);
  DeviceQueue queue = make_queue(driver);
  std::vector<uint16_t> heads;
  for (int i = 0; i < 4; i++) {
    Chain chain = pop_one(queue);
    heads.push_back(chain.head);
    EXPECT_EQ(chain.readable_len, 10u + chain.head);
    ASSERT_TRUE(queue.push_used(chain.head, i).ok());
    queue.flush_used();
  }
  EXPECT_EQ(heads, (std::vector<uint16_t>{2, 0, 3, 1}));
  EXPECT_EQ(queue.last_avail_idx(), 2);
  EXPECT_EQ(driver.used_idx(), 2);
  EXPECT_EQ(driver.used_elem(65535).id, 0u);
  EXPECT_EQ(driver.used_elem(0).id, 3u);
  auto none = queue.pop();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(DeviceQueuePop, CountsChainsInFlight) {
  TestDriver driver(8);
  for (uint16_t id = 0; id < 3; id++) {
    driver.set_desc(id, kBuffers, 64);
    driver.offer(id);
  }
  DeviceQueue queue = make_queue(driver);
  Chain first = pop_one(queue);
  Chain second = pop_one(queue);
  EXPECT_EQ(queue.in_flight(), 2);
  ASSERT_TRUE(queue.push_used(second.head, 0).ok());
  EXPECT_EQ(queue.in_flight(), 1);
  Chain third = pop_one(queue);
  EXPECT_EQ(queue.in_flight(), 2);
  EXPECT_FALSE(queue.push_used(second.head, 0).ok()) << "pushed the same chain twice";
  EXPECT_FALSE(queue.push_used(7, 0).ok()) << "pushed a chain never popped";
  EXPECT_EQ(queue.in_flight(), 2);
}

TEST(DeviceQueueUsed, BatchIsPublishedOnce) {
  TestDriver driver(8);
  for (uint16_t id = 0; id < 3; id++) {
    driver.set_desc(id, kBuffers, 64, VRING_DESC_F_WRITE);
    driver.offer(id);
  }
  DeviceQueue queue = make_queue(driver, 0, true);
  std::vector<UsedElem> used;
  for (int i = 0; i < 3; i++) used.push_back({pop_one(queue).head, 10u * i});
  ASSERT_TRUE(queue.push_used(used).ok());
  EXPECT_EQ(driver.used_idx(), 0);
  queue.flush_used();
  EXPECT_EQ(driver.used_idx(), 3);
  for (uint16_t i = 0; i < 3; i++) {
    EXPECT_EQ(driver.used_elem(i).id, used[i].head);
    EXPECT_EQ(driver.used_elem(i).len, used[i].written_len);
  }
  size_t idx_logs = 0;
  for (auto [gpa, len] : driver.memory.logged) idx_logs += gpa == kUsedGpa + 2 && len == 2;
  EXPECT_EQ(idx_logs, 1u);
}

TEST(DeviceQueueLog, UsedRingWritesAreLogged) {
  TestDriver driver(8);
  driver.set_desc(0, kBuffers, 64);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver, 0, true);
  ASSERT_TRUE(queue.push_used(pop_one(queue).head, 0).ok());
  queue.flush_used();
  using Log = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(driver.memory.logged, (Log{{kUsedGpa + 4, 8}, {kUsedGpa + 2, 2}}));
  driver.memory.logged.clear();
  queue.enable_notifications(false);
  EXPECT_EQ(driver.memory.logged, (Log{{kUsedGpa, 2}}));
}

TEST(DeviceQueueLog, NothingIsLoggedWithoutALogAddress) {
  TestDriver driver(8);
  driver.set_desc(0, kBuffers, 64);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  ASSERT_TRUE(queue.push_used(pop_one(queue).head, 0).ok());
  queue.flush_used();
  queue.enable_notifications(false);
  EXPECT_TRUE(driver.memory.logged.empty());
}

TEST(DeviceQueueLog, WrittenBytesAreLoggedPerSegment) {
  TestDriver driver(8);
  driver.set_desc(0, kRegionB - 0x10, 0x30, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
  driver.set_desc(1, kBuffers, 0x100, VRING_DESC_F_WRITE);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  queue.log_written(chain, 0x38);
  using Log = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(driver.memory.logged, (Log{{kRegionB - 0x10, 0x10}, {kRegionB, 0x20}, {kBuffers, 0x8}}));
}

// A queue with chains 0..n-1 available, each a 64-byte receive buffer.
struct Offered {
  explicit Offered(uint16_t n, uint64_t features) : driver(8) {
    for (uint16_t id = 0; id < n; id++) {
      driver.set_desc(id, kBuffers + 0x100 * id, 64, VRING_DESC_F_WRITE);
      driver.offer(id);
    }
    queue.emplace(make_queue(driver, features));
  }
  void use_one() {
    ASSERT_TRUE(queue->push_used(pop_one(*queue).head, 1).ok());
    queue->flush_used();
  }
  TestDriver driver;
  std::optional<DeviceQueue> queue;
};

TEST(DeviceQueueNotify, EventIdxAsksWhenUsedIdxPassesUsedEvent) {
  Offered offered(4, kEventIdx);
  DeviceQueue& queue = *offered.queue;
  EXPECT_FALSE(queue.needs_notify()) << "nothing published yet";
  offered.use_one();
  EXPECT_TRUE(queue.needs_notify()) << "the first publish after start always notifies";
  EXPECT_FALSE(queue.needs_notify()) << "nothing new was published";
  offered.driver.set_used_event(1);  // wake me when entry 1 is used
  offered.use_one();
  EXPECT_TRUE(queue.needs_notify());
  offered.driver.set_used_event(5);
  offered.use_one();
  EXPECT_FALSE(queue.needs_notify()) << "used idx 3 has not passed used_event 5";
  offered.driver.set_used_event(2);  // already behind: the driver missed nothing new
  offered.use_one();
  EXPECT_FALSE(queue.needs_notify());
}

TEST(DeviceQueueNotify, EventIdxCountsABatchOnce) {
  Offered offered(4, kEventIdx);
  DeviceQueue& queue = *offered.queue;
  offered.use_one();
  EXPECT_TRUE(queue.needs_notify());
  offered.driver.set_used_event(2);
  std::vector<UsedElem> used;
  for (int i = 0; i < 3; i++) used.push_back({pop_one(queue).head, 0});
  ASSERT_TRUE(queue.push_used(used).ok());
  queue.flush_used();
  EXPECT_TRUE(queue.needs_notify()) << "entries 1..3 were used, 2 among them";
}

TEST(DeviceQueueNotify, NoInterruptFlagWithoutEventIdx) {
  Offered offered(3, 0);
  DeviceQueue& queue = *offered.queue;
  offered.driver.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
  offered.use_one();
  EXPECT_FALSE(queue.needs_notify());
  offered.driver.set_avail_flags(0);
  offered.use_one();
  EXPECT_TRUE(queue.needs_notify());
  EXPECT_FALSE(queue.needs_notify()) << "nothing new was published";
}

TEST(DeviceQueueNotify, KicksSuppressedByUsedFlags) {
  Offered offered(1, 0);
  DeviceQueue& queue = *offered.queue;
  EXPECT_FALSE(queue.enable_notifications(false));
  EXPECT_EQ(offered.driver.used_flags(), VRING_USED_F_NO_NOTIFY);
  EXPECT_TRUE(queue.enable_notifications(true)) << "chain 0 is waiting and no kick will come for it";
  EXPECT_EQ(offered.driver.used_flags(), 0);
  pop_one(queue);
  EXPECT_FALSE(queue.enable_notifications(true));
}

TEST(DeviceQueueNotify, KicksAskedForByAvailEvent) {
  Offered offered(3, kEventIdx);
  DeviceQueue& queue = *offered.queue;
  pop_one(queue);
  pop_one(queue);
  EXPECT_TRUE(queue.enable_notifications(true));
  EXPECT_EQ(offered.driver.avail_event(), 2);
  pop_one(queue);
  EXPECT_FALSE(queue.enable_notifications(true));
  EXPECT_EQ(offered.driver.avail_event(), 3);
  EXPECT_EQ(offered.driver.used_flags(), 0) << "with EVENT_IDX the flag is not used";
}

}  // namespace
}  // namespace vnet::virtio
