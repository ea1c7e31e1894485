#include "backends/teardown_queue.h"

namespace vnet {

TeardownQueue::TeardownQueue() {
  for (int i = 0; i < kWorkers; i++) workers_.emplace_back([this] { work(); });
}

TeardownQueue::~TeardownQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& worker : workers_) worker.join();
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
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->first != key) {
      ++it;
      continue;
    }
    auto job = std::move(it->second);
    it = jobs_.erase(it);
    lock.unlock();
    job();
    lock.lock();
    if (--pending_[key] == 0) pending_.erase(key);
    changed_.notify_all();
    it = jobs_.begin();  // the list may have changed while unlocked
  }
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
