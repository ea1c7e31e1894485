// IdleTrim - gives freed heap back to the kernel once the daemon falls idle
// after a burst of changes. glibc keeps freed memory inside its heap (only
// the top is returned on free), so a daemon whose netdevs come and go would
// hold its busiest moment's footprint; malloc_trim() releases the free pages
// wherever they are. Checked every kPeriodMs: a change counter that moved,
// then held still for one period, means a burst has ended.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "ctl/loop/event_loop.h"
#include "ctl/loop/loop_timer.h"
#include "kernel_ifaces/result.h"

namespace vnet {

class IdleTrim {
 public:
  // changes: any counter that moves with the daemon's work (the state's bytes written).
  static Result<std::unique_ptr<IdleTrim>> create(EventLoop& loop, std::function<uint64_t()> changes);
  uint64_t trims() const { return trims_; }

 private:
  static constexpr unsigned kPeriodMs = 250;
  explicit IdleTrim(std::function<uint64_t()> changes) : changes_(std::move(changes)) {}
  void tick();

  std::function<uint64_t()> changes_;
  std::unique_ptr<LoopTimer> timer_;
  uint64_t last_ = 0;
  bool busy_ = false;
  uint64_t trims_ = 0;
};

}  // namespace vnet
