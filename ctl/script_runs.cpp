#include "ctl/script_runs.h"

#include <sys/epoll.h>

namespace vnet {

ScriptRuns::~ScriptRuns() {
  for (auto& [key, run] : runs_) {
    if (run->child.pidfd() >= 0) loop_.remove(run->child.pidfd());
  }
}

void ScriptRuns::run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, Done done) {
  auto child = process::spawn(argv);
  if (!child) {
    loop_.defer([done = std::move(done), error = child.take_error()] { done(error); });
    return;
  }
  uint64_t key = next_key_++;
  auto run = std::make_unique<Run>(Run{std::move(*child), nullptr, std::move(done)});
  int pidfd = run->child.pidfd();
  auto deadline = LoopTimer::create(loop_, [this, key, timeout] { end(key, true, timeout); });
  // No pidfd (a kernel before 5.3), or one the loop cannot watch: the wait
  // blocks here, bounded by the timeout.
  auto exited = [this, key, timeout](uint32_t) { end(key, false, timeout); };
  if (pidfd < 0 || !deadline || !loop_.add(pidfd, EPOLLIN, exited)) {
    auto waited = run->child.wait(timeout);
    loop_.defer([done = std::move(run->done), waited] { done(waited); });
    return;
  }
  run->deadline = std::move(*deadline);
  run->deadline->arm_ms(static_cast<unsigned>(timeout.count()));
  runs_[key] = std::move(run);
}

void ScriptRuns::end(uint64_t key, bool timed_out, std::chrono::milliseconds timeout) {
  auto it = runs_.find(key);
  if (it == runs_.end()) return;
  std::unique_ptr<Run> run = std::move(it->second);
  runs_.erase(it);
  loop_.remove(run->child.pidfd());
  // Exited: its status at once. Timed out: killed and reaped by wait().
  auto status = run->child.wait(timed_out ? std::chrono::milliseconds(0) : timeout);
  if (timed_out && !status) {
    status = Error{ETIMEDOUT, run->child.name() + " did not finish within " + std::to_string(timeout.count()) + " ms"};
  }
  run->done(status);
  // Its timer's callback may be the one running: freed after it returns.
  loop_.defer([doomed = std::shared_ptr<Run>(std::move(run))] {});
}

}  // namespace vnet
