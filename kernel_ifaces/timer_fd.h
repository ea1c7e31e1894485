// timer_fd - thin wrappers over a CLOCK_MONOTONIC timerfd (timerfd_create(2)),
// the daemon's one kind of timer: the loop's timers, announce rounds, the
// systemd watchdog, libslirp's timers.
#pragma once

#include <cstdint>
#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::timer_fd {

// Non-blocking and close-on-exec; what names the timer in the error.
Result<UniqueFd> create(const std::string& what);
// Fires first_ms from now (0: at once; a zero it_value would disarm the
// timer), then every interval_ms (0: once). Any int64 delay is taken: the
// kernel saturates what its clock cannot reach.
Result<void> arm_ms(int fd, int64_t first_ms, int64_t interval_ms = 0);
void disarm(int fd);
// Expirations since the last call (0 for a wakeup with none to read).
uint64_t take_expirations(int fd);

}  // namespace vnet::timer_fd
