// ScriptRuns - programs the daemon waits for without blocking its loop (a
// tap's up-script): each child's pidfd is watched by the loop, and a timer
// kills one that outlives its time. Other clients are served meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctl/loop/event_loop.h"
#include "ctl/loop/loop_timer.h"
#include "kernel_ifaces/process.h"
#include "kernel_ifaces/result.h"

namespace vnet {

class ScriptRuns {
 public:
  using Done = std::function<void(Result<void>)>;

  explicit ScriptRuns(EventLoop& loop) : loop_(loop) {}
  // What still runs is killed and reaped (its done is not called).
  ~ScriptRuns();
  ScriptRuns(const ScriptRuns&) = delete;
  ScriptRuns& operator=(const ScriptRuns&) = delete;

  // Starts argv; done runs from the loop once it exits (ok on status 0 only),
  // is killed at the timeout, or could not be started.
  void run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, Done done);
  size_t running() const { return runs_.size(); }

 private:
  struct Run {
    process::Child child;
    std::unique_ptr<LoopTimer> deadline;
    Done done;
  };
  void end(uint64_t key, bool timed_out, std::chrono::milliseconds timeout);

  EventLoop& loop_;
  std::map<uint64_t, std::unique_ptr<Run>> runs_;
  uint64_t next_key_ = 0;
};

}  // namespace vnet
