#include "ctl/idle_trim.h"

#include <malloc.h>

namespace vnet {

Result<std::unique_ptr<IdleTrim>> IdleTrim::create(EventLoop& loop, std::function<uint64_t()> changes) {
  std::unique_ptr<IdleTrim> trim(new IdleTrim(std::move(changes)));
  auto timer = LoopTimer::create(loop, [self = trim.get()] { self->tick(); });
  if (!timer) return timer.take_error();
  trim->timer_ = std::move(*timer);
  trim->last_ = trim->changes_();
  trim->timer_->arm_ms(kPeriodMs);
  return trim;
}

void IdleTrim::tick() {
  uint64_t now = changes_();
  if (now != last_) {
    busy_ = true;
  } else if (busy_) {
    busy_ = false;
    malloc_trim(0);
    trims_++;
  }
  last_ = now;
  timer_->arm_ms(kPeriodMs);
}

}  // namespace vnet
