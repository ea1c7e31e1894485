#include "ctl/loop/loop_timer.h"

#include <sys/epoll.h>

#include "kernel_ifaces/timer_fd.h"

namespace vnet {

Result<std::unique_ptr<LoopTimer>> LoopTimer::create(EventLoop& loop, std::function<void()> on_expiry) {
  auto fd = timer_fd::create("a loop timer");
  if (!fd) return fd.take_error();
  std::unique_ptr<LoopTimer> timer(new LoopTimer(loop, std::move(*fd), std::move(on_expiry)));
  LoopTimer* self = timer.get();
  if (auto added = loop.add(self->fd_.get(), EPOLLIN, [self](uint32_t) {
        if (timer_fd::take_expirations(self->fd_.get()) == 0 || !self->armed_) return;
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
  armed_ = bool(timer_fd::arm_ms(fd_.get(), ms));
}

void LoopTimer::disarm() {
  timer_fd::disarm(fd_.get());
  armed_ = false;
}

}  // namespace vnet
