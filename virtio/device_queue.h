// DeviceQueue - one split virtqueue (virtio 1.2, 2.7) seen from the device:
// takes the chains the driver makes available, hands back used ones, and
// decides when either side needs a kick. The driver is not trusted: every
// index, flag and address it writes is checked, each shared field is read
// once, and guest memory is reached only through DeviceMemory.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kernel_ifaces/result.h"
#include "virtio/device_memory.h"

namespace vnet::virtio {

// Where the three parts of a ring are in this process (the caller translated
// the driver's addresses and checked them against its memory table). Each span
// must cover at least the extent below for the queue's num and features, and
// be aligned as virtio 2.7 requires (16, 2 and 4 bytes):
//   desc_table  16 * num                       (struct vring_desc[num])
//   avail_ring   4 + 2 * num, + 2 with EVENT_IDX  (flags, idx, ring[num], used_event)
//   used_ring    4 + 8 * num, + 2 with EVENT_IDX  (flags, idx, ring[num], avail_event)
struct QueueConfig {
  uint16_t num = 0;  // queue size: a power of two, 1..32768
  std::span<uint8_t> desc_table;
  std::span<uint8_t> avail_ring;
  std::span<uint8_t> used_ring;
  // The used ring's guest-physical address, given when the front end asked
  // for its writes to be logged (VHOST_VRING_F_LOG); every write the queue
  // makes to the used ring is then passed to DeviceMemory::log_write.
  std::optional<uint64_t> used_ring_log_gpa;
  uint16_t last_avail_idx = 0;  // where to resume (VHOST_USER_SET_VRING_BASE)
  uint64_t features = 0;        // negotiated: VIRTIO_RING_F_EVENT_IDX, _INDIRECT_DESC
};

// A piece of a driver buffer that lies in one mapped region.
struct Segment {
  std::span<uint8_t> host;
  uint64_t gpa;  // where host begins for the driver (for the dirty log)
};

// One descriptor chain the driver made available: the buffers the device
// reads (driver to device, e.g. a frame to send) then those it writes (device
// to driver, e.g. a receive buffer), in chain order.
struct Chain {
  uint16_t head = 0;  // what push_used() gives back
  std::vector<Segment> readable;
  std::vector<Segment> writable;
  uint32_t readable_len = 0;
  uint32_t writable_len = 0;
};

struct UsedElem {
  uint16_t head;
  uint32_t written_len;  // bytes the device wrote into the chain's writable part
};

class DeviceQueue {
 public:
  // Checks the configuration (size, extents, alignment) and reads the used
  // ring's idx, from which used entries continue.
  static Result<DeviceQueue> create(const QueueConfig& config, DeviceMemory& memory);

  // The next available chain, or nullopt when the driver has made none
  // available since the last pop. An Error means the driver broke the ring's
  // rules; the queue must not be used after it.
  Result<std::optional<Chain>> pop();

  // Gives back the chains of the last heads.size() pops, in the order they
  // were popped, none of them pushed: their ring entries are available again
  // (a device that took buffers for a frame it could not place). Heads that
  // are not the latest pops in flight are an Error.
  Result<void> unpop(std::span<const uint16_t> heads);
  // Returns a popped chain to the driver; it becomes visible at flush_used().
  Result<void> push_used(uint16_t head, uint32_t written_len);
  Result<void> push_used(std::span<const UsedElem> used);
  // Publishes the used entries pushed since the last flush (one idx store).
  void flush_used();
  // Whether the driver wants a notification for what was published since the
  // last time this returned: with EVENT_IDX, by its used_event; without, unless
  // it set VRING_AVAIL_F_NO_INTERRUPT.
  bool needs_notify();

  // Asks the driver to kick (true) or not to kick (false) when it makes more
  // buffers available. Enabling returns whether buffers arrived while kicks
  // were off: the caller must then pop again, as no kick will come for them.
  bool enable_notifications(bool enable);

  // Marks the first len bytes of the chain's writable part dirty (the caller
  // wrote them).
  void log_written(const Chain& chain, uint32_t len);

  uint16_t num() const { return num_; }
  // Where the device is in the avail ring (VHOST_USER_GET_VRING_BASE).
  uint16_t last_avail_idx() const { return last_avail_idx_; }
  // Chains popped and not yet pushed back.
  uint16_t in_flight() const { return in_flight_; }

 private:
  DeviceQueue(const QueueConfig& config, DeviceMemory& memory);

  struct Desc;
  struct Where;
  class ChainBuilder;
  uint16_t read_avail_idx() const;
  Result<void> walk_indirect(const Desc& indirect, const Where& at, ChainBuilder& chain);
  bool copy_from_guest(uint64_t gpa, void* out, size_t len) const;
  void log_used(size_t offset, size_t len);

  DeviceMemory* memory_;
  uint16_t num_;
  uint8_t* desc_;
  uint8_t* avail_;
  uint8_t* used_;
  std::optional<uint64_t> used_log_gpa_;
  bool event_idx_;
  bool indirect_desc_;
  uint16_t last_avail_idx_;
  uint16_t used_idx_;            // next used entry to write (not yet published)
  uint16_t published_used_idx_;  // what used->idx says
  uint16_t signalled_used_idx_;  // published idx at the last needs_notify()
  bool signalled_valid_ = false;
  uint16_t in_flight_ = 0;
  std::vector<bool> head_in_flight_;
};

}  // namespace vnet::virtio
