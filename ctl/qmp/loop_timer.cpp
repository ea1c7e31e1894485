#include "ctl/qmp/loop_timer.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>

namespace vnet::qmp {

Result<std::unique_ptr<LoopTimer>> LoopTimer::create(EventLoop& loop, std::function<void()> on_expiry) {
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd) return errno_error("timerfd_create");
  std::unique_ptr<LoopTimer> timer(new LoopTimer(loop, std::move(fd), std::move(on_expiry)));
  LoopTimer* self = timer.get();
  if (auto added = loop.add(self->fd_.get(), EPOLLIN, [self](uint32_t) {
        uint64_t expirations = 0;
        if (read(self->fd_.get(), &expirations, sizeof expirations) != sizeof expirations) return;
        if (!self->armed_) return;
        self->armed_ = false;
        self->on_expiry_();
      });
      !added) {
    return added.take_error();
  }
  return timer;
}

LoopTimer::~LoopTimer() { loop_.remove(fd_.get()); }

void LoopTimer::arm_ms(unsigned ms) {
  itimerspec when{};
  when.it_value.tv_sec = ms / 1000;
  when.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  if (ms == 0) when.it_value.tv_nsec = 1;  // zero would disarm it
  armed_ = timerfd_settime(fd_.get(), 0, &when, nullptr) == 0;
}

void LoopTimer::disarm() {
  itimerspec never{};
  (void)timerfd_settime(fd_.get(), 0, &never, nullptr);
  armed_ = false;
}

}  // namespace vnet::qmp
