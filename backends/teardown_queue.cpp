#include "backends/teardown_queue.h"

namespace vnet {

TeardownQueue::TeardownQueue() : worker_([this] { work(); }) {}

TeardownQueue::~TeardownQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void TeardownQueue::submit(const std::string& key, std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.emplace_back(key, std::move(job));
    pending_[key]++;
  }
  changed_.notify_all();
}

void TeardownQueue::wait_for(const std::string& key) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return pending_.find(key) == pending_.end(); });
}

void TeardownQueue::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return pending_.empty(); });
}

void TeardownQueue::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left to do
    auto [key, job] = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
    if (--pending_[key] == 0) pending_.erase(key);
    changed_.notify_all();
  }
}

}  // namespace vnet
