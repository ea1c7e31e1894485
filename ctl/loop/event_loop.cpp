#include "ctl/loop/event_loop.h"

#include <sys/epoll.h>

#include <cerrno>

namespace vnet {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  UniqueFd fd(epoll_create1(EPOLL_CLOEXEC));
  if (!fd) return errno_error("epoll_create1");
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd)));
}

Result<void> EventLoop::add(int fd, uint32_t events, Callback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    return errno_error("EPOLL_CTL_ADD of fd " + std::to_string(fd));
  }
  callbacks_[fd] = std::make_shared<Callback>(std::move(callback));
  return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) {
    return errno_error("EPOLL_CTL_MOD of fd " + std::to_string(fd));
  }
  return {};
}

void EventLoop::remove(int fd) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  callbacks_.erase(fd);
}

void EventLoop::run_deferred() {
  while (!deferred_.empty()) {
    auto work = std::move(deferred_);
    deferred_.clear();
    for (auto& w : work) w();
  }
}

int EventLoop::run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    int n = epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (int i = 0; i < n && !stopping_; i++) {
      // Looked up per event: an earlier callback may have removed this fd.
      auto it = callbacks_.find(events[i].data.fd);
      if (it == callbacks_.end()) continue;
      std::shared_ptr<Callback> callback = it->second;
      (*callback)(events[i].events);
    }
    run_deferred();
  }
  run_deferred();
  return 0;
}

}  // namespace vnet
