// The driver's side of a split virtqueue for the DeviceQueue and chain_io
// tests: guest memory of two regions at guest-physical addresses unlike their
// host ones (a forgotten translation reads the wrong bytes or faults), each a
// separate allocation of its exact size (ASan sees any overrun), and the rings
// laid out in it, written the way a driver would, chains and indirect tables
// included.
#pragma once

#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "virtio/device_memory.h"
#include "virtio/device_queue.h"

namespace vnet::virtio::testing {

struct TestRegion {
  uint64_t gpa;
  std::unique_ptr<uint8_t[]> bytes;
  uint64_t size;
};

// DeviceMemory over regions the test chooses; records the dirty log calls.
class TestMemory : public DeviceMemory {
 public:
  void add_region(uint64_t gpa, uint64_t size) {
    regions_.push_back(TestRegion{gpa, std::make_unique<uint8_t[]>(size), size});
  }

  std::span<uint8_t> translate_prefix(uint64_t gpa, uint64_t len) const override {
    if (len == 0 || gpa + len < gpa) return {};
    for (const TestRegion& region : regions_) {
      if (gpa >= region.gpa && gpa - region.gpa < region.size) {
        uint64_t offset = gpa - region.gpa;
        return {region.bytes.get() + offset, static_cast<size_t>(std::min(len, region.size - offset))};
      }
    }
    return {};
  }
  void log_write(uint64_t gpa, uint64_t len) override { logged.emplace_back(gpa, len); }

  // The host bytes of [gpa, gpa+len), which the test knows lie in one region.
  uint8_t* host(uint64_t gpa, uint64_t len) const {
    std::span<uint8_t> span = translate_prefix(gpa, len);
    if (span.size() != len) std::abort();
    return span.data();
  }
  template <typename T>
  void put(uint64_t gpa, const T& value) {
    std::memcpy(host(gpa, sizeof value), &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t gpa) const {
    T value;
    std::memcpy(&value, host(gpa, sizeof value), sizeof value);
    return value;
  }

  std::vector<std::pair<uint64_t, uint64_t>> logged;

 private:
  std::vector<TestRegion> regions_;
};

// Region A at 0x10000 (64 KiB): the rings, then buffers. Region B follows A
// directly in guest-physical space (a buffer may run from one into the other)
// but is a separate host allocation. Nothing is mapped from 0x24000.
constexpr uint64_t kRegionA = 0x10000, kRegionASize = 0x10000;
constexpr uint64_t kRegionB = 0x20000, kRegionBSize = 0x4000;
constexpr uint64_t kDescGpa = 0x10000, kAvailGpa = 0x11000, kUsedGpa = 0x12000;
constexpr uint64_t kBuffers = 0x14000;  // free for buffers and indirect tables up to region B's end
constexpr uint64_t kUnmapped = 0x100000;

constexpr uint64_t kEventIdx = 1ull << VIRTIO_RING_F_EVENT_IDX;
constexpr uint64_t kIndirect = 1ull << VIRTIO_RING_F_INDIRECT_DESC;

class TestDriver {
 public:
  explicit TestDriver(uint16_t num) : num_(num) {
    memory.add_region(kRegionA, kRegionASize);
    memory.add_region(kRegionB, kRegionBSize);
  }

  QueueConfig config(uint64_t features, bool log_used = false) {
    QueueConfig config;
    config.num = num_;
    config.desc_table = {memory.host(kDescGpa, 16u * num_), 16u * num_};
    config.avail_ring = {memory.host(kAvailGpa, 6u + 2u * num_), 6u + 2u * num_};
    config.used_ring = {memory.host(kUsedGpa, 6u + 8u * num_), 6u + 8u * num_};
    if (log_used) config.used_ring_log_gpa = kUsedGpa;
    config.last_avail_idx = start_idx_;
    config.features = features;
    return config;
  }

  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags = 0, uint16_t next = 0) {
    memory.put(kDescGpa + 16u * index, vring_desc{addr, len, flags, next});
  }
  // An indirect table at gpa (a plain descriptor array in guest memory).
  void set_table(uint64_t gpa, const std::vector<vring_desc>& table) {
    std::memcpy(memory.host(gpa, 16u * table.size()), table.data(), 16u * table.size());
  }
  // Puts head in the next avail ring entry and publishes it.
  void offer(uint16_t head) {
    memory.put<uint16_t>(kAvailGpa + 4u + 2u * (avail_idx_ % num_), head);
    set_avail_idx(avail_idx_ + 1);
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    memory.put<uint16_t>(kAvailGpa + 2, idx);
  }
  // Both the device and the driver start at idx (after a migration, say).
  void start_at(uint16_t idx) {
    start_idx_ = idx;
    set_avail_idx(idx);
    memory.put<uint16_t>(kUsedGpa + 2, idx);
  }
  void set_avail_flags(uint16_t flags) { memory.put<uint16_t>(kAvailGpa, flags); }
  void set_used_event(uint16_t idx) { memory.put<uint16_t>(kAvailGpa + 4u + 2u * num_, idx); }

  uint16_t used_idx() const { return memory.get<uint16_t>(kUsedGpa + 2); }
  uint16_t used_flags() const { return memory.get<uint16_t>(kUsedGpa); }
  uint16_t avail_event() const { return memory.get<uint16_t>(kUsedGpa + 4u + 8u * num_); }
  vring_used_elem used_elem(uint16_t idx) const {
    return memory.get<vring_used_elem>(kUsedGpa + 4u + 8u * (idx % num_));
  }

  // Fills guest [gpa, gpa+len) with bytes counting up from first.
  void fill(uint64_t gpa, uint32_t len, uint8_t first) {
    for (uint32_t i = 0; i < len; i++) memory.put<uint8_t>(gpa + i, static_cast<uint8_t>(first + i));
  }

  TestMemory memory;

 private:
  uint16_t num_;
  uint16_t avail_idx_ = 0;
  uint16_t start_idx_ = 0;  // where a queue made by config() begins
};

inline DeviceQueue make_queue(TestDriver& driver, uint64_t features = 0, bool log_used = false) {
  auto queue = DeviceQueue::create(driver.config(features, log_used), driver.memory);
  if (!queue) throw std::runtime_error(queue.error().message);
  return std::move(queue).value();
}

inline Chain pop_one(DeviceQueue& queue) {
  auto chain = queue.pop();
  if (!chain) throw std::runtime_error(chain.error().message);
  if (!chain->has_value()) throw std::runtime_error("no chain available");
  return std::move(**chain);
}

// The Error pop() returns; fails the test when pop() succeeds.
inline std::string pop_error(DeviceQueue& queue) {
  auto chain = queue.pop();
  EXPECT_FALSE(chain.ok()) << "pop() accepted a hostile ring";
  return chain.ok() ? std::string() : chain.error().message;
}

}  // namespace vnet::virtio::testing
