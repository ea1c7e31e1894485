#include "kernel_ifaces/timer_fd.h"

#include <sys/timerfd.h>
#include <unistd.h>

namespace vnet::timer_fd {

namespace {

timespec from_ms(int64_t ms) {
  timespec out{};
  out.tv_sec = static_cast<time_t>(ms / 1000);
  out.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  return out;
}

}  // namespace

Result<UniqueFd> create(const std::string& what) {
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd) return errno_error("timerfd_create for " + what);
  return fd;
}

Result<void> arm_ms(int fd, int64_t first_ms, int64_t interval_ms) {
  itimerspec when{};
  when.it_value = from_ms(first_ms < 0 ? 0 : first_ms);
  if (first_ms <= 0) when.it_value.tv_nsec = 1;
  when.it_interval = from_ms(interval_ms < 0 ? 0 : interval_ms);
  if (timerfd_settime(fd, 0, &when, nullptr) < 0) return errno_error("timerfd_settime");
  return {};
}

void disarm(int fd) {
  itimerspec never{};
  (void)timerfd_settime(fd, 0, &never, nullptr);
}

uint64_t take_expirations(int fd) {
  uint64_t expirations = 0;
  if (read(fd, &expirations, sizeof expirations) != sizeof expirations) return 0;
  return expirations;
}

}  // namespace vnet::timer_fd
