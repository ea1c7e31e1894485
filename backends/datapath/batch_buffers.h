// BatchBuffers - buffers handed out during one frame loop batch and all
// taken back at its end (a peer may hold a frame until then), kept for the
// next: no allocation per frame once the sizes have been seen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace vnet::datapath {

class BatchBuffers {
 public:
  std::span<uint8_t> take(size_t size) {
    if (used_ == slots_.size()) slots_.emplace_back();
    Slot& slot = slots_[used_++];
    if (slot.capacity < size) {
      slot.data = std::make_unique_for_overwrite<uint8_t[]>(size);
      slot.capacity = size;
    }
    return {slot.data.get(), size};
  }
  // Every buffer is free again; an outsized one (a jumbo frame's) goes.
  void recycle() {
    for (size_t i = 0; i < used_; i++) {
      if (slots_[i].capacity > kKeptCapacity) slots_[i] = Slot{};
    }
    used_ = 0;
  }

 private:
  static constexpr size_t kKeptCapacity = 16 << 10;
  struct Slot {
    std::unique_ptr<uint8_t[]> data;
    size_t capacity = 0;
  };
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

}  // namespace vnet::datapath
