#include "virtio/device_queue.h"

// Without the legacy layout helpers, which are not valid C++ (void* casts).
#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

namespace vnet::virtio {

namespace {

// virtio 1.x rings are little-endian; so is every host vnetd runs on.
static_assert(std::endian::native == std::endian::little);
static_assert(sizeof(vring_desc) == 16 && sizeof(vring_used_elem) == 8);

constexpr size_t kRingHeader = 4;  // flags, idx: both rings begin with them
constexpr size_t kUsedIdxOffset = 2;
constexpr uint32_t kMaxQueueSize = 32768;  // virtio 1.2, 2.7: "Queue Size ... maximum is 32768"
// An indirect table's next fields are 16 bits wide, so no chain in it can
// reach a descriptor past 65535 (as vhost.c's get_indirect() limits it).
constexpr uint32_t kMaxIndirectCount = 65536;

// The driver writes these fields concurrently: each is read (or written) once,
// whole, into a local that is what gets checked and used.
template <typename T>
T load_shared(const uint8_t* at) {
  return __atomic_load_n(reinterpret_cast<const T*>(at), __ATOMIC_RELAXED);
}
template <typename T>
void store_shared(uint8_t* at, T value) {
  __atomic_store_n(reinterpret_cast<T*>(at), value, __ATOMIC_RELAXED);
}

std::string hex(uint64_t value) {
  char text[24];
  snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

size_t avail_extent(uint16_t num, bool event_idx) { return kRingHeader + 2u * num + (event_idx ? 2 : 0); }
size_t used_extent(uint16_t num, bool event_idx) {
  return kRingHeader + sizeof(vring_used_elem) * num + (event_idx ? 2 : 0);
}

Result<void> check_part(const char* name, std::span<uint8_t> part, size_t needed, size_t align) {
  if (part.size() < needed) {
    return Error::plain(std::string(name) + " of " + std::to_string(part.size()) + " bytes, the queue needs " +
                        std::to_string(needed));
  }
  if (reinterpret_cast<uintptr_t>(part.data()) % align != 0) {
    return Error::plain(std::string(name) + " not aligned to " + std::to_string(align) + " bytes");
  }
  return {};
}

}  // namespace

// Names a descriptor in an error: built only when there is one.
struct DeviceQueue::Where {
  uint16_t head;
  uint32_t index;
  std::optional<uint64_t> table;  // the indirect table's gpa, when in one

  std::string text() const {
    std::string where = "chain of head " + std::to_string(head) + ", ";
    if (table) where += "indirect table at " + hex(*table) + " ";
    return where + "descriptor " + std::to_string(index);
  }
};

// One descriptor as read, once, from guest memory.
struct DeviceQueue::Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

// Collects a chain's buffers as its descriptors are walked, enforcing the
// rules that span descriptors: readable before writable, length fits 32 bits.
class DeviceQueue::ChainBuilder {
 public:
  ChainBuilder(DeviceMemory& memory, Chain& chain) : memory_(memory), chain_(chain) {}

  Result<void> add(const Desc& desc, const Where& where) {
    bool writable = desc.flags & VRING_DESC_F_WRITE;
    if (!writable && seen_writable_) return Error::plain(where.text() + ": a readable descriptor after a writable one");
    seen_writable_ |= writable;
    // Checked before the buffer is looked at, so that the error says why.
    total_ += desc.len;
    if (total_ > UINT32_MAX) return Error::plain(where.text() + ": the chain's length passes 4 GiB");
    uint64_t gpa = desc.addr;
    uint64_t left = desc.len;
    while (left > 0) {
      std::span<uint8_t> host = memory_.translate_prefix(gpa, left);
      if (host.empty()) {
        return Error::plain(where.text() + ": buffer " + hex(desc.addr) + "+" + std::to_string(desc.len) +
                            " not mapped at " + hex(gpa));
      }
      (writable ? chain_.writable : chain_.readable).push_back(Segment{host, gpa});
      gpa += host.size();
      left -= host.size();
    }
    (writable ? chain_.writable_len : chain_.readable_len) += desc.len;
    return {};
  }

 private:
  DeviceMemory& memory_;
  Chain& chain_;
  bool seen_writable_ = false;
  uint64_t total_ = 0;
};

Result<DeviceQueue> DeviceQueue::create(const QueueConfig& config, DeviceMemory& memory) {
  if (config.num == 0 || !std::has_single_bit(config.num) || config.num > kMaxQueueSize) {
    return Error::plain("queue size " + std::to_string(config.num) + " is not a power of two up to 32768");
  }
  bool event_idx = config.features & (1ull << VIRTIO_RING_F_EVENT_IDX);
  if (auto r = check_part("descriptor table", config.desc_table, sizeof(vring_desc) * config.num,
                          VRING_DESC_ALIGN_SIZE);
      !r) {
    return r.take_error();
  }
  if (auto r = check_part("avail ring", config.avail_ring, avail_extent(config.num, event_idx), VRING_AVAIL_ALIGN_SIZE);
      !r) {
    return r.take_error();
  }
  if (auto r = check_part("used ring", config.used_ring, used_extent(config.num, event_idx), VRING_USED_ALIGN_SIZE);
      !r) {
    return r.take_error();
  }
  return DeviceQueue(config, memory);
}

DeviceQueue::DeviceQueue(const QueueConfig& config, DeviceMemory& memory)
    : memory_(&memory),
      num_(config.num),
      desc_(config.desc_table.data()),
      avail_(config.avail_ring.data()),
      used_(config.used_ring.data()),
      used_log_gpa_(config.used_ring_log_gpa),
      event_idx_(config.features & (1ull << VIRTIO_RING_F_EVENT_IDX)),
      indirect_desc_(config.features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)),
      last_avail_idx_(config.last_avail_idx),
      // Used entries continue where the ring says (as vhost_vq_init_access()).
      used_idx_(load_shared<uint16_t>(used_ + kUsedIdxOffset)),
      published_used_idx_(used_idx_),
      signalled_used_idx_(used_idx_),
      head_in_flight_(config.num, false) {}

uint16_t DeviceQueue::read_avail_idx() const { return load_shared<uint16_t>(avail_ + 2); }

Result<std::optional<Chain>> DeviceQueue::pop() {
  uint16_t avail_idx = read_avail_idx();
  if (avail_idx == last_avail_idx_) return std::optional<Chain>();
  if (static_cast<uint16_t>(avail_idx - last_avail_idx_) > num_) {
    return Error::plain("avail idx jumped from " + std::to_string(last_avail_idx_) + " to " +
                        std::to_string(avail_idx) + ", more than the queue's " + std::to_string(num_) + " entries");
  }
  // The ring entries below idx were written before idx (the driver's wmb).
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  uint16_t head = load_shared<uint16_t>(avail_ + kRingHeader + 2u * (last_avail_idx_ & (num_ - 1)));
  if (head >= num_) {
    return Error::plain("avail ring entry " + std::to_string(last_avail_idx_) + ": head " + std::to_string(head) +
                        " outside the queue of " + std::to_string(num_));
  }
  if (head_in_flight_[head]) {
    return Error::plain("head " + std::to_string(head) + " made available again while the device holds it");
  }

  Chain chain;
  chain.head = head;
  ChainBuilder builder(*memory_, chain);
  uint16_t index = head;
  for (uint32_t walked = 1;; walked++) {
    Where where{head, index, std::nullopt};
    if (walked > num_) return Error::plain(where.text() + ": the chain is longer than the queue (a loop)");
    const uint8_t* at = desc_ + sizeof(vring_desc) * index;
    Desc desc{load_shared<uint64_t>(at), load_shared<uint32_t>(at + 8), load_shared<uint16_t>(at + 12),
              load_shared<uint16_t>(at + 14)};
    if (desc.flags & VRING_DESC_F_INDIRECT) {
      if (auto r = walk_indirect(desc, where, builder); !r) return r.take_error();
      break;
    }
    if (auto r = builder.add(desc, where); !r) return r.take_error();
    if (!(desc.flags & VRING_DESC_F_NEXT)) break;
    if (desc.next >= num_) {
      return Error::plain(where.text() + ": next " + std::to_string(desc.next) + " outside the queue of " +
                          std::to_string(num_));
    }
    index = desc.next;
  }
  last_avail_idx_++;
  in_flight_++;
  head_in_flight_[head] = true;
  return std::optional<Chain>(std::move(chain));
}

// The table a descriptor with VRING_DESC_F_INDIRECT points to (virtio 2.7.5.3):
// the whole chain's buffers, its own next fields indexing into itself.
Result<void> DeviceQueue::walk_indirect(const Desc& indirect, const Where& at, ChainBuilder& builder) {
  auto refuse = [&at](const std::string& why) { return Error::plain(at.text() + ": " + why); };
  if (!indirect_desc_) return refuse("INDIRECT, but VIRTIO_RING_F_INDIRECT_DESC was not negotiated");
  if (indirect.flags & VRING_DESC_F_NEXT) return refuse("INDIRECT together with NEXT");
  if (indirect.len == 0 || indirect.len % sizeof(vring_desc) != 0) {
    return refuse("indirect table of " + std::to_string(indirect.len) + " bytes, not a positive multiple of 16");
  }
  uint32_t count = indirect.len / sizeof(vring_desc);
  if (count > kMaxIndirectCount) {
    return refuse("indirect table of " + std::to_string(count) + " descriptors, more than 65536");
  }
  for (uint64_t gpa = indirect.addr, left = indirect.len; left > 0;) {
    std::span<uint8_t> host = memory_->translate_prefix(gpa, left);
    if (host.empty()) {
      return refuse("indirect table " + hex(indirect.addr) + "+" + std::to_string(indirect.len) +
                    " not mapped at " + hex(gpa));
    }
    gpa += host.size();
    left -= host.size();
  }
  uint32_t index = 0;
  for (uint32_t walked = 1;; walked++) {
    Where where{at.head, index, indirect.addr};
    if (walked > count) return Error::plain(where.text() + ": the chain is longer than the table (a loop)");
    // Copied whole into a local: the table need not be aligned, may span
    // regions, and the driver may be rewriting it.
    vring_desc raw;
    if (!copy_from_guest(indirect.addr + sizeof(vring_desc) * index, &raw, sizeof raw)) {
      return Error::plain(where.text() + ": not mapped");
    }
    Desc desc{raw.addr, raw.len, raw.flags, raw.next};
    if (desc.flags & VRING_DESC_F_INDIRECT) return Error::plain(where.text() + ": INDIRECT inside an indirect table");
    if (auto r = builder.add(desc, where); !r) return r.take_error();
    if (!(desc.flags & VRING_DESC_F_NEXT)) return {};
    if (desc.next >= count) {
      return Error::plain(where.text() + ": next " + std::to_string(desc.next) + " outside the table of " +
                          std::to_string(count));
    }
    index = desc.next;
  }
}

bool DeviceQueue::copy_from_guest(uint64_t gpa, void* out, size_t len) const {
  auto* to = static_cast<uint8_t*>(out);
  while (len > 0) {
    std::span<uint8_t> host = memory_->translate_prefix(gpa, len);
    if (host.empty()) return false;
    std::memcpy(to, host.data(), host.size());
    to += host.size();
    gpa += host.size();
    len -= host.size();
  }
  return true;
}

Result<void> DeviceQueue::unpop(std::span<const uint16_t> heads) {
  if (heads.size() > in_flight_) return Error::plain("unpop: more chains than are in flight");
  // The entries they came from: the last heads.size() before last_avail_idx_.
  uint16_t first = static_cast<uint16_t>(last_avail_idx_ - heads.size());
  for (size_t i = 0; i < heads.size(); i++) {
    if (heads[i] >= num_ || !head_in_flight_[heads[i]]) return Error::plain("unpop: a head not in flight");
  }
  for (uint16_t head : heads) head_in_flight_[head] = false;
  in_flight_ = static_cast<uint16_t>(in_flight_ - heads.size());
  last_avail_idx_ = first;
  return {};
}

Result<void> DeviceQueue::push_used(uint16_t head, uint32_t written_len) {
  if (head >= num_ || !head_in_flight_[head]) {
    return Error::plain("push_used: head " + std::to_string(head) + " is not a chain the device holds");
  }
  size_t offset = kRingHeader + sizeof(vring_used_elem) * (used_idx_ & (num_ - 1));
  store_shared<uint32_t>(used_ + offset, head);
  store_shared<uint32_t>(used_ + offset + 4, written_len);
  log_used(offset, sizeof(vring_used_elem));
  used_idx_++;
  in_flight_--;
  head_in_flight_[head] = false;
  return {};
}

Result<void> DeviceQueue::push_used(std::span<const UsedElem> used) {
  for (const UsedElem& elem : used) {
    if (auto r = push_used(elem.head, elem.written_len); !r) return r;
  }
  return {};
}

void DeviceQueue::flush_used() {
  if (used_idx_ == published_used_idx_) return;
  // The entries must be visible before the idx that hands them over.
  __atomic_thread_fence(__ATOMIC_RELEASE);
  store_shared<uint16_t>(used_ + kUsedIdxOffset, used_idx_);
  log_used(kUsedIdxOffset, 2);
  published_used_idx_ = used_idx_;
}

bool DeviceQueue::needs_notify() {
  if (published_used_idx_ == signalled_used_idx_) return false;  // nothing new
  bool first = !signalled_valid_;
  uint16_t old = signalled_used_idx_;
  signalled_used_idx_ = published_used_idx_;
  signalled_valid_ = true;
  // Our idx store must be visible before we read the driver's wishes, which
  // it writes before re-reading idx (the other half of this full barrier).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!event_idx_) return !(load_shared<uint16_t>(avail_) & VRING_AVAIL_F_NO_INTERRUPT);
  // After start nothing says what the driver last saw: tell it (as vhost_notify()).
  if (first) return true;
  uint16_t used_event = load_shared<uint16_t>(avail_ + kRingHeader + 2u * num_);
  return vring_need_event(used_event, published_used_idx_, old);
}

bool DeviceQueue::enable_notifications(bool enable) {
  if (event_idx_) {
    // Disabling needs no write: the driver kicks only when its idx passes
    // avail_event, which stays behind once the device stops updating it.
    if (enable) {
      size_t offset = kRingHeader + sizeof(vring_used_elem) * num_;
      store_shared<uint16_t>(used_ + offset, last_avail_idx_);
      log_used(offset, 2);
    }
  } else {
    store_shared<uint16_t>(used_, enable ? 0 : VRING_USED_F_NO_NOTIFY);
    log_used(0, 2);
  }
  if (!enable) return false;
  // The driver may have added buffers before it saw kicks were on again.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return read_avail_idx() != last_avail_idx_;
}

void DeviceQueue::log_written(const Chain& chain, uint32_t len) {
  uint64_t left = len;
  for (const Segment& segment : chain.writable) {
    if (left == 0) break;
    uint64_t n = std::min<uint64_t>(left, segment.host.size());
    memory_->log_write(segment.gpa, n);
    left -= n;
  }
}

void DeviceQueue::log_used(size_t offset, size_t len) {
  if (used_log_gpa_) memory_->log_write(*used_log_gpa_ + offset, len);
}

}  // namespace vnet::virtio
