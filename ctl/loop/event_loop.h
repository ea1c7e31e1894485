// EventLoop - the daemon's single-threaded epoll loop: fds with callbacks,
// deferred work (run after the current callbacks, e.g. to destroy the
// object whose callback is running), and a stop request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<std::unique_ptr<EventLoop>> create();

  Result<void> add(int fd, uint32_t events, Callback callback);
  Result<void> modify(int fd, uint32_t events);
  void remove(int fd);
  void defer(std::function<void()> work) { deferred_.push_back(std::move(work)); }

  // Runs until stop(); returns 0, or an errno if epoll itself failed.
  int run();
  void stop() { stopping_ = true; }

 private:
  explicit EventLoop(UniqueFd epoll) : epoll_(std::move(epoll)) {}
  void run_deferred();

  UniqueFd epoll_;
  std::map<int, std::shared_ptr<Callback>> callbacks_;
  std::vector<std::function<void()>> deferred_;
  bool stopping_ = false;
};

}  // namespace vnet
