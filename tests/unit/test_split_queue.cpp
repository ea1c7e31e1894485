// The driver side of a split virtqueue (kernel_ifaces/virtio), checked
// against a device side written here from the virtio 1.x layout: descriptor
// table, available ring, used ring, with indices wrapping past 65535.
#include <gtest/gtest.h>

#include <cstring>

#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"

namespace vnet::virtio {
namespace {

struct Device {
  uint8_t* desc;
  uint8_t* avail;
  uint8_t* used;
  uint16_t size;
  uint16_t last_avail = 0, used_idx = 0;

  bool next(uint16_t& head, uint64_t& addr, uint32_t& len, uint16_t& flags) {
    uint16_t idx;
    std::memcpy(&idx, avail + 2, 2);
    if (idx == last_avail) return false;
    std::memcpy(&head, avail + 4 + 2 * (last_avail % size), 2);
    std::memcpy(&addr, desc + 16 * head, 8);
    std::memcpy(&len, desc + 16 * head + 8, 4);
    std::memcpy(&flags, desc + 16 * head + 12, 2);
    last_avail++;
    return true;
  }
  void use(uint16_t head, uint32_t len) {
    uint32_t elem[2] = {head, len};
    std::memcpy(used + 4 + 8 * (used_idx % size), elem, 8);
    used_idx++;
    std::memcpy(used + 2, &used_idx, 2);
  }
};

TEST(SplitQueue, BuffersGoRoundThroughADeviceAndIndicesWrap) {
  auto memory = GuestMemory::create(1 << 20, 0x100000);
  ASSERT_TRUE(memory) << memory.error().message;
  EXPECT_FALSE(SplitQueue::create(**memory, 6)) << "6 is not a power of two";
  auto queue = SplitQueue::create(**memory, 8);
  ASSERT_TRUE(queue) << queue.error().message;
  auto host = [&](uint64_t userspace) { return reinterpret_cast<uint8_t*>(userspace); };
  Device device{host(queue->desc_user_addr()), host(queue->avail_user_addr()), host(queue->used_user_addr()), 8};
  EXPECT_EQ((queue->desc_user_addr() - (*memory)->userspace_addr()) % 4096, 0u) << "rings are page aligned";
  auto buffer = (*memory)->allocate(256, 64);
  ASSERT_TRUE(buffer);
  EXPECT_FALSE(queue->take_used()) << "nothing used yet";
  // 70,000 rounds: the 16-bit indices wrap.
  for (uint32_t round = 0; round < 70000; round++) {
    uint16_t id = static_cast<uint16_t>(round % 8);
    queue->make_available(id, *buffer, 200, round % 2 == 0);
    uint16_t head, flags;
    uint64_t addr;
    uint32_t len;
    ASSERT_TRUE(device.next(head, addr, len, flags)) << round;
    ASSERT_EQ(head, id);
    ASSERT_EQ(addr, *buffer);
    ASSERT_EQ(len, 200u);
    ASSERT_EQ(flags, round % 2 == 0 ? 2 : 0) << "VRING_DESC_F_WRITE for a device-written buffer";
    device.use(head, round % 200);
    auto used = queue->take_used();
    ASSERT_TRUE(used) << round;
    ASSERT_EQ(used->id, id);
    ASSERT_EQ(used->len, round % 200);
    ASSERT_FALSE(queue->take_used());
  }
}

TEST(GuestMemory, TranslatesOnlyItsOwnRange) {
  auto memory = GuestMemory::create(8192, 0x40000000);
  ASSERT_TRUE(memory);
  EXPECT_NE((*memory)->host(0x40000000, 8192), nullptr);
  EXPECT_EQ((*memory)->host(0x40000000, 8193), nullptr);
  EXPECT_EQ((*memory)->host(0x3fffffff, 1), nullptr);
  EXPECT_TRUE((*memory)->allocate(4096, 4096));
  EXPECT_TRUE((*memory)->allocate(4096, 4096));
  EXPECT_FALSE((*memory)->allocate(1, 1)) << "exhausted";
}

}  // namespace
}  // namespace vnet::virtio
