#include "backends/tap/teardown_queue.h"

#include <net/if.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

#include "kernel_ifaces/log.h"
#include "kernel_ifaces/rtnl.h"

namespace vnet {

namespace {

std::optional<rtnl::Rtnl> connect_rtnl() {
  auto connected = rtnl::Rtnl::connect();
  if (connected) return std::move(*connected);
  log::error("teardown: " + connected.error().message);
  return std::nullopt;
}

void log_failure(const char* what, const Error& error) {
  log::error(std::string("teardown: ") + what + ": " + error.message);
}

// A link already gone (deleted by someone else, or with its last fd) is fine.
void delete_one(rtnl::Rtnl& rtnl, int ifindex) {
  if (auto deleted = rtnl.delete_link(ifindex); !deleted && deleted.error().errnum != ENODEV) {
    log_failure("deleting a link", deleted.error());
  }
}

uint32_t random_group_base() {
  uint32_t value = 0;
  if (getrandom(&value, sizeof value, 0) != sizeof value) value = static_cast<uint32_t>(getpid()) << 16;
  // The top bit keeps clear of the small group numbers operators use by hand.
  return value | 0x80000000u;
}

}  // namespace

TeardownQueue::TeardownQueue() : group_base_(random_group_base()), caller_rtnl_(connect_rtnl()) {
  // Sockets made here, before any request, so the daemon's fd count is
  // steady from its start (libnl sockets are not thread-safe: one each).
  for (int i = 0; i < kWorkers; i++) worker_rtnl_.push_back(connect_rtnl());
  for (int i = 0; i < kWorkers; i++) {
    workers_.emplace_back([this, i] { work(worker_rtnl_[i] ? &*worker_rtnl_[i] : nullptr); });
  }
}

TeardownQueue::~TeardownQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void TeardownQueue::submit(TeardownJob job) {
  {
    std::lock_guard lock(mutex_);
    pending_[job.key]++;
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

void TeardownQueue::wait_for(const std::string& key) {
  std::unique_lock lock(mutex_);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->key != key) {
      ++it;
      continue;
    }
    std::vector<TeardownJob> batch;
    batch.push_back(std::move(*it));
    jobs_.erase(it);
    lock.unlock();
    {
      std::lock_guard caller(caller_mutex_);
      run(batch, caller_rtnl_ ? &*caller_rtnl_ : nullptr);
    }
    lock.lock();
    finished(batch);
    it = jobs_.begin();  // the list may have changed while unlocked
  }
  changed_.wait(lock, [&] { return pending_.find(key) == pending_.end(); });
}

void TeardownQueue::wait_for_name(const std::string& ifname) {
  bool run_here = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& job : jobs_) {
      // A downscript is given the link by name: that job runs whole, here.
      run_here = run_here || (job.key == ifname && (!batchable(job) || running_ == kWorkers));
    }
  }
  if (run_here) return wait_for(ifname);
  hurry(ifname);
  constexpr auto kPoll = std::chrono::microseconds(200);
  while (holds_name(ifname)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kPoll, [&] { return !pending_.contains(ifname); });
  }
}

bool TeardownQueue::holds_name(const std::string& ifname) {
  {
    std::lock_guard lock(mutex_);
    if (!pending_.contains(ifname)) return false;
  }
  // SIOCGIFINDEX is an RCU lookup: it takes no lock a worker holds.
  return if_nametoindex(ifname.c_str()) != 0;
}

void TeardownQueue::hurry(const std::string& ifname) {
  std::lock_guard lock(mutex_);
  for (const auto& job : jobs_) {
    if (job.key == ifname && batchable(job)) {
      urgent_ = true;
      changed_.notify_all();
      return;
    }
  }
}

void TeardownQueue::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return pending_.empty(); });
}

bool TeardownQueue::batchable(const TeardownJob& job) { return job.ifindex != 0 && !job.before; }

std::vector<TeardownJob> TeardownQueue::take_batch() {
  std::vector<TeardownJob> batch;
  batch.push_back(std::move(jobs_.front()));
  jobs_.pop_front();
  if (!batchable(batch.front())) return batch;
  for (auto it = jobs_.begin(); it != jobs_.end() && batch.size() < kMaxBatch;) {
    if (!batchable(*it)) {
      ++it;
      continue;
    }
    batch.push_back(std::move(*it));
    it = jobs_.erase(it);
  }
  return batch;
}

void TeardownQueue::finished(const std::vector<TeardownJob>& batch) {
  for (const auto& job : batch) {
    if (--pending_[job.key] == 0) pending_.erase(job.key);
    if (job.ifindex) finished_links_.push_back(job.ifindex);
  }
  changed_.notify_all();
}

std::vector<int> TeardownQueue::take_finished() {
  std::lock_guard lock(mutex_);
  return std::exchange(finished_links_, {});
}

uint32_t TeardownQueue::next_group() {
  // Concurrent batches get different groups; 0 (the default group) never.
  uint32_t group = group_base_ + batches_.fetch_add(1) % 0x10000;
  return group ? group : 1;
}

void TeardownQueue::run(std::vector<TeardownJob>& batch, rtnl::Rtnl* rtnl) {
  for (auto& job : batch) {
    if (job.before) job.before();
  }
  std::vector<int> links;
  for (const auto& job : batch) {
    if (job.ifindex) links.push_back(job.ifindex);
  }
  if (rtnl && links.size() == 1) {
    delete_one(*rtnl, links.front());
  } else if (rtnl) {
    uint32_t group = next_group();
    std::vector<int> ungrouped;
    bool any_grouped = false;
    for (int ifindex : links) {
      rtnl::LinkChange change;
      change.group = group;
      if (auto moved = rtnl->change_link(ifindex, change)) any_grouped = true;
      else if (moved.error().errnum != ENODEV) ungrouped.push_back(ifindex);
    }
    if (any_grouped) {
      if (auto deleted = rtnl->delete_group(group); !deleted && deleted.error().errnum != ENODEV) {
        // Whatever is left of the group goes one by one.
        log_failure("deleting a batch of links", deleted.error());
        for (const auto& job : batch) {
          if (job.ifindex) delete_one(*rtnl, job.ifindex);
        }
      }
    }
    for (int ifindex : ungrouped) delete_one(*rtnl, ifindex);
  }
  for (auto& job : batch) {
    if (job.release) job.release();
  }
}

void TeardownQueue::work(rtnl::Rtnl* rtnl) {
  // At the daemon's own priority: a worker deletes links under the kernel's
  // rtnl_lock, and one starved at SCHED_IDLE on a busy host held it for
  // seconds while the QMP thread's own rtnetlink calls waited behind it (a
  // priority inversion: tap add/del p99 of 5 s with two CPU hogs). The
  // batching is what keeps teardown cheap, not its priority.
  std::unique_lock lock(mutex_);
  for (;;) {
    // One worker at a time gathers a batch; the others run what it leaves
    // (jobs with a downscript run alone, in parallel).
    changed_.wait(lock, [&] { return stopping_ || (!jobs_.empty() && !collecting_); });
    if (jobs_.empty()) return;  // stopping, and nothing left to do
    collecting_ = true;
    if (batchable(jobs_.front())) wait_for_batch(lock);
    collecting_ = false;
    urgent_ = false;
    changed_.notify_all();
    if (jobs_.empty()) continue;  // wait_for() ran them meanwhile
    auto batch = take_batch();
    running_++;
    lock.unlock();
    run(batch, rtnl);
    lock.lock();
    running_--;
    finished(batch);
  }
}

// Deletions asked for together (a pipelined client, a VM's several netdevs,
// a script's loop) share one batch: it starts once no deletion has come for
// kBatchQuiet, or kBatchMaxWait after the first. The kernel's part of a batch
// interrupts every CPU (expedited RCU), so fewer batches also means steadier
// latency for QMP clients.
void TeardownQueue::wait_for_batch(std::unique_lock<std::mutex>& lock) {
  auto give_up = std::chrono::steady_clock::now() + kBatchMaxWait;
  while (!stopping_ && !urgent_ && jobs_.size() < kMaxBatch) {
    size_t seen = jobs_.size();
    auto deadline = std::min(std::chrono::steady_clock::now() + kBatchQuiet, give_up);
    if (!changed_.wait_until(lock, deadline, [&] { return stopping_ || urgent_ || jobs_.size() != seen; })) return;
  }
}

}  // namespace vnet
