// LoopTimer - a one-shot timer on the daemon's event loop (a timerfd), for
// deadlines such as a VMM's reply that does not come.
#pragma once

#include <functional>

#include "ctl/loop/event_loop.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet {

class LoopTimer {
 public:
  static Result<std::unique_ptr<LoopTimer>> create(EventLoop& loop, std::function<void()> on_expiry);
  ~LoopTimer();
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  // Fires once, ms from now (replacing an earlier arming).
  void arm_ms(unsigned ms);
  void disarm();
  bool armed() const { return armed_; }

 private:
  LoopTimer(EventLoop& loop, UniqueFd fd, std::function<void()> on_expiry)
      : loop_(loop), fd_(std::move(fd)), on_expiry_(std::move(on_expiry)) {}

  EventLoop& loop_;
  UniqueFd fd_;
  std::function<void()> on_expiry_;
  bool armed_ = false;
};

}  // namespace vnet
