// The device side of a split virtqueue (virtio/device_queue, chain_io)
// against a driver that writes anything. Input: queue size, features and
// where the device resumes, then the bytes of guest memory, region by region:
// descriptor table, avail ring and used ring, each a region of exactly its
// size, then two buffer regions adjacent in guest-physical space. Every
// region is a host allocation of its exact size, so ASan sees any access
// past a ring or a buffer. The device pops until the ring is empty or broken,
// copying each frame out and a frame back in as a net device does. Every
// span it is handed must lie in guest memory, lengths must add up, and no
// copy may pass its chain.
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>

#include "tests/fuzz/fake_daemon.h"
#include "virtio/chain_io.h"
#include "virtio/device_memory.h"
#include "virtio/device_queue.h"

namespace {

using vnet::fuzz::contract_broken;
using namespace vnet::virtio;

constexpr uint64_t kDescGpa = 0x20000, kAvailGpa = 0x21000, kUsedGpa = 0x22000;
constexpr uint64_t kRegionA = 0x10000, kRegionASize = 0x2000;
constexpr uint64_t kRegionB = 0x12000, kRegionBSize = 0x1000;
constexpr unsigned kMaxSizeLog2 = 6;  // queues of 1..64 entries
constexpr size_t kNetHdr = 12;
constexpr int kMaxPops = 256;  // the device may rewrite the avail ring itself

class FuzzMemory : public DeviceMemory {
 public:
  struct Region {
    uint64_t gpa;
    std::unique_ptr<uint8_t[]> bytes;
    uint64_t size;
  };

  void add_region(uint64_t gpa, uint64_t size) {
    regions_.push_back(Region{gpa, std::make_unique<uint8_t[]>(size), size});
  }

  std::span<uint8_t> translate_prefix(uint64_t gpa, uint64_t len) const override {
    if (len == 0 || gpa + len < gpa) return {};
    for (const Region& region : regions_) {
      if (gpa >= region.gpa && gpa - region.gpa < region.size) {
        uint64_t offset = gpa - region.gpa;
        return {region.bytes.get() + offset, static_cast<size_t>(std::min(len, region.size - offset))};
      }
    }
    return {};
  }
  void log_write(uint64_t gpa, uint64_t len) override {
    // Only what the device wrote: used ring entries and buffers it was given.
    if (len == 0 || translate_prefix(gpa, len).size() != len) contract_broken("log_write outside one region");
  }

  // The region holding host bytes [data, data+len), if one does.
  const Region* region_of(const uint8_t* data, size_t len) const {
    for (const Region& region : regions_) {
      const uint8_t* begin = region.bytes.get();
      if (data >= begin && data + len <= begin + region.size) return &region;
    }
    return nullptr;
  }

  // Fills the regions in order from bytes; the rest stays zero.
  void load(std::span<const uint8_t> bytes) {
    for (Region& region : regions_) {
      size_t n = std::min<size_t>(bytes.size(), region.size);
      std::memcpy(region.bytes.get(), bytes.data(), n);
      bytes = bytes.subspan(n);
    }
  }
  std::span<uint8_t> region(size_t index) const { return {regions_[index].bytes.get(), regions_[index].size}; }

 private:
  std::vector<Region> regions_;
};

void check_part(const FuzzMemory& memory, const std::vector<Segment>& segments, uint32_t len) {
  uint64_t total = 0;
  for (const Segment& segment : segments) {
    const FuzzMemory::Region* region = memory.region_of(segment.host.data(), segment.host.size());
    if (segment.host.empty() || !region ||
        segment.gpa != region->gpa + (segment.host.data() - region->bytes.get())) {
      contract_broken("a segment outside guest memory or at the wrong gpa");
    }
    total += segment.host.size();
  }
  if (total != len) contract_broken("a chain's length is not the sum of its segments");
}

void check_iovecs(const FuzzMemory& memory, std::span<const iovec> iovecs) {
  for (const iovec& iov : iovecs) {
    if (iov.iov_len == 0 || !memory.region_of(static_cast<const uint8_t*>(iov.iov_base), iov.iov_len)) {
      contract_broken("an iovec outside guest memory");
    }
  }
}

// One chain handled as a net device would: the frame out, a frame back in.
void handle(DeviceQueue& queue, const FuzzMemory& memory, const Chain& chain) {
  check_part(memory, chain.readable, chain.readable_len);
  check_part(memory, chain.writable, chain.writable_len);

  std::array<uint8_t, 2048> frame;
  size_t out = copy_from_chain(chain, kNetHdr, frame);
  size_t expected_out = std::min<size_t>(chain.readable_len > kNetHdr ? chain.readable_len - kNetHdr : 0, frame.size());
  if (out != expected_out) contract_broken("copy_from_chain moved the wrong amount");

  // In place: exactly the bytes past the header, inside guest memory, and
  // equal to what the copy got.
  if (auto in_place = readable_in_place(chain, kNetHdr)) {
    if (in_place->empty() || in_place->size() != chain.readable_len - kNetHdr) {
      contract_broken("readable_in_place is not the frame past the header");
    }
    if (!memory.region_of(in_place->data(), in_place->size())) contract_broken("readable_in_place outside guest memory");
    size_t compared = std::min(in_place->size(), out);
    if (std::memcmp(in_place->data(), frame.data(), compared) != 0) contract_broken("readable_in_place differs from the copy");
  }

  std::array<iovec, 4> iovecs;
  for (ChainPart part : {ChainPart::readable, ChainPart::writable}) {
    IovecsMade made = chain_iovecs(chain, part, kNetHdr, iovecs);
    if (made.count > iovecs.size()) contract_broken("chain_iovecs past its array");
    check_iovecs(memory, std::span(iovecs).first(made.count));
    uint32_t len = part == ChainPart::readable ? chain.readable_len : chain.writable_len;
    if (made.bytes > (len > kNetHdr ? len - kNetHdr : 0)) contract_broken("chain_iovecs past its chain");
  }

  std::array<uint8_t, kNetHdr> header{};
  size_t in = copy_into_chain(chain, header, std::span(frame).first(out));
  if (in != std::min<size_t>(chain.writable_len, kNetHdr + out)) {
    contract_broken("copy_into_chain moved the wrong amount");
  }
  queue.log_written(chain, static_cast<uint32_t>(in));
  if (!queue.push_used(chain.head, static_cast<uint32_t>(in)).ok()) contract_broken("push_used of a popped chain");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint16_t num = static_cast<uint16_t>(1u << (data[0] % (kMaxSizeLog2 + 1)));
  uint8_t options = data[1];
  QueueConfig config;
  config.num = num;
  if (options & 1) config.features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
  if (options & 2) config.features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
  bool event_idx = options & 1;
  std::memcpy(&config.last_avail_idx, data + 2, 2);

  FuzzMemory memory;
  memory.add_region(kDescGpa, 16u * num);
  memory.add_region(kAvailGpa, 4u + 2u * num + (event_idx ? 2 : 0));
  memory.add_region(kUsedGpa, 4u + 8u * num + (event_idx ? 2 : 0));
  memory.add_region(kRegionA, kRegionASize);
  memory.add_region(kRegionB, kRegionBSize);
  memory.load({data + 4, size - 4});
  config.desc_table = memory.region(0);
  config.avail_ring = memory.region(1);
  config.used_ring = memory.region(2);
  if (options & 4) config.used_ring_log_gpa = kUsedGpa;

  auto created = DeviceQueue::create(config, memory);
  if (!created) contract_broken("a valid configuration refused: " + created.error().message);
  DeviceQueue& queue = *created;
  bool kicks_on = true;
  for (int pops = 0; pops < kMaxPops; pops++) {
    auto popped = queue.pop();
    if (!popped) break;  // a broken ring: the connection would be closed
    if (!popped->has_value()) {
      // Empty: what a device does before it sleeps.
      if (!queue.enable_notifications(true)) break;
      continue;
    }
    handle(queue, memory, **popped);
    if (queue.in_flight() != 0) contract_broken("in_flight after every chain was pushed");
    if (pops % 3 == 2 || (options & 8)) {
      queue.flush_used();
      queue.needs_notify();
    }
    if (options & 16) queue.enable_notifications(kicks_on = !kicks_on);
  }
  queue.flush_used();
  queue.needs_notify();
  return 0;
}
