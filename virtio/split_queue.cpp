#include "virtio/split_queue.h"

#include <cstring>


namespace vnet::virtio {

namespace {

// The split ring's layout (linux/virtio_ring.h; vmm_ioctl.c asserts it).
// x86 is little-endian, as virtio 1.x rings are.
struct VringDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VringDesc) == 16);
constexpr size_t kRingHeader = 4;   // flags, idx
constexpr size_t kUsedElemSize = 8;  // id, len
constexpr size_t kPage = 4096;
constexpr uint16_t kDescFWrite = 2;  // VRING_DESC_F_WRITE

}  // namespace

Result<SplitQueue> SplitQueue::create(GuestMemory& memory, uint16_t size) {
  if (size == 0 || (size & (size - 1)) || size > 32768) return Error::plain("ring size must be a power of two");
  auto desc = memory.allocate(sizeof(VringDesc) * size, kPage);
  if (!desc) return desc.take_error();
  auto avail = memory.allocate(kRingHeader + 2 * size + 2, kPage);
  if (!avail) return avail.take_error();
  auto used = memory.allocate(kRingHeader + kUsedElemSize * size + 2, kPage);
  if (!used) return used.take_error();
  return SplitQueue(memory, size, *desc, *avail, *used);
}

void SplitQueue::make_available(uint16_t id, uint64_t gpa, uint32_t len, bool device_writes) {
  VringDesc desc{gpa, len, static_cast<uint16_t>(device_writes ? kDescFWrite : 0), 0};
  std::memcpy(memory_->host(desc_gpa_ + sizeof(VringDesc) * id, sizeof(VringDesc)), &desc, sizeof(desc));
  auto* avail = reinterpret_cast<uint16_t*>(memory_->host(avail_gpa_, kRingHeader + 2 * size_));
  avail[2 + next_avail_ % size_] = id;
  next_avail_++;
  // The device may read the ring entry only after it sees the new idx.
  __atomic_store_n(&avail[1], next_avail_, __ATOMIC_RELEASE);
}

std::optional<UsedBuffer> SplitQueue::take_used() {
  auto* used = memory_->host(used_gpa_, kRingHeader + kUsedElemSize * size_);
  uint16_t idx = __atomic_load_n(reinterpret_cast<uint16_t*>(used + 2), __ATOMIC_ACQUIRE);
  if (idx == last_used_) return std::nullopt;
  uint32_t elem[2];
  std::memcpy(elem, used + kRingHeader + kUsedElemSize * (last_used_ % size_), sizeof(elem));
  last_used_++;
  return UsedBuffer{static_cast<uint16_t>(elem[0]), elem[1]};
}

}  // namespace vnet::virtio
