#include "ctl/name_waits.h"

#include <set>

namespace vnet {

Result<std::unique_ptr<NameWaits>> NameWaits::create(EventLoop& loop, TeardownQueue& teardown) {
  std::unique_ptr<NameWaits> waits(new NameWaits(teardown));
  auto timer = LoopTimer::create(loop, [self = waits.get()] { self->check(); });
  if (!timer) return timer.take_error();
  waits->timer_ = std::move(*timer);
  return waits;
}

void NameWaits::when_free(const std::string& ifname, std::function<void()> then) {
  teardown_.hurry(ifname);
  waits_.push_back({ifname, std::move(then)});
  if (!timer_->armed()) timer_->arm_ms(kPollMs);
}

void NameWaits::check() {
  // Taken out first: a `then` may ask for another wait.
  std::deque<Wait> due;
  std::set<std::string> still_held;
  for (auto it = waits_.begin(); it != waits_.end();) {
    // A later wait on a name an earlier one still waits for keeps its place.
    if (still_held.contains(it->ifname) || teardown_.holds_name(it->ifname)) {
      still_held.insert(it->ifname);
      ++it;
      continue;
    }
    due.push_back(std::move(*it));
    it = waits_.erase(it);
  }
  for (auto& wait : due) wait.then();
  if (!waits_.empty() && !timer_->armed()) timer_->arm_ms(kPollMs);
}

}  // namespace vnet
