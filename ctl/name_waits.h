// NameWaits - requests that need a device name a pending teardown still
// holds run once the kernel has freed it, without blocking the daemon's loop:
// a tap re-added right after its delete waits for the kernel to unregister the
// old link (a few ms, far more on a busy host), and other clients are served
// meanwhile.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "backends/tap/teardown_queue.h"
#include "ctl/loop/event_loop.h"
#include "ctl/loop/loop_timer.h"
#include "kernel_ifaces/result.h"

namespace vnet {

class NameWaits {
 public:
  static Result<std::unique_ptr<NameWaits>> create(EventLoop& loop, TeardownQueue& teardown);

  // True when a link whose teardown is pending still has ifname.
  bool held(const std::string& ifname) { return teardown_.holds_name(ifname); }
  // Runs `then` from the loop once ifname is free; waits on one name run in
  // the order they were asked for.
  void when_free(const std::string& ifname, std::function<void()> then);
  size_t waiting() const { return waits_.size(); }

 private:
  explicit NameWaits(TeardownQueue& teardown) : teardown_(teardown) {}
  void check();

  // The kernel frees a name within a few ms of the teardown starting; a
  // timerfd at 1 ms is the finest the loop's timers go.
  static constexpr unsigned kPollMs = 1;
  struct Wait {
    std::string ifname;
    std::function<void()> then;
  };
  TeardownQueue& teardown_;
  std::unique_ptr<LoopTimer> timer_;
  std::deque<Wait> waits_;
};

}  // namespace vnet
