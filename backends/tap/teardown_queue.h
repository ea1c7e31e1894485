// TeardownQueue - removes netdevs' kernel devices in the background, so that
// netdev_del answers at once. Unregistering a device costs the kernel RCU
// waits (~20 ms each on their own), so links queued together are deleted in
// one batch: put in an ifgroup of ours and removed with one RTM_DELLINK,
// which makes the kernel pay those waits once for the whole batch.
// Jobs carry a key (an ifname): creating a device of that name first waits
// for its pending teardown, so del + re-add works.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kernel_ifaces/rtnl.h"

namespace vnet {

struct TeardownJob {
  std::string key;                    // the ifname, for wait_for()
  int ifindex = 0;                    // a link of ours to delete, or 0 for none
  std::function<void()> before;       // runs while the link still exists (a downscript); may be empty
  std::function<void()> release;      // closes the fds, once the link is deleted; may be empty
};

class TeardownQueue {
 public:
  // A few workers, so that a downscript does not hold up other deletions.
  static constexpr int kWorkers = 4;
  static constexpr size_t kMaxBatch = 4096;
  static constexpr std::chrono::milliseconds kBatchQuiet{5};
  static constexpr std::chrono::milliseconds kBatchMaxWait{100};

  TeardownQueue();
  ~TeardownQueue();  // runs every queued job before returning
  TeardownQueue(const TeardownQueue&) = delete;
  TeardownQueue& operator=(const TeardownQueue&) = delete;

  void submit(TeardownJob job);
  // Until no job with this key is pending; one not yet started runs here and
  // now rather than waiting behind every job queued before it.
  void wait_for(const std::string& key);
  // Until no link is named ifname (the key of its teardown jobs), which the
  // kernel frees when it unregisters the link, before that deletion's RCU
  // waits (~20 ms, far more on a busy host) have ended: a re-add of the
  // name waits for that much only. Queued jobs of the name start at once,
  // with whatever batch they join; one with a `before` step runs here, as
  // wait_for() runs it.
  void wait_for_name(const std::string& ifname);
  // What wait_for_name() is made of, for callers that wait in their own way
  // (the daemon's loop): whether a link of a pending teardown still has the
  // name, and starting the name's queued batchable jobs now.
  bool holds_name(const std::string& ifname);
  void hurry(const std::string& ifname);
  void drain();                           // until every job queued so far has run
  // The ifindexes of links deleted since the last call (the state keeps a
  // deleted tap until its link is gone, for a restart after a crash).
  std::vector<int> take_finished();

 private:
  void work(rtnl::Rtnl* rtnl);
  // Takes the front job and, if it can be batched, every other queued job
  // that can (no `before` step) with it. Called with mutex_ held.
  std::vector<TeardownJob> take_batch();
  static bool batchable(const TeardownJob& job);
  void wait_for_batch(std::unique_lock<std::mutex>& lock);
  // Without rtnetlink (rtnl null), closing the fds still removes a
  // non-persistent tap.
  void run(std::vector<TeardownJob>& batch, rtnl::Rtnl* rtnl);
  void finished(const std::vector<TeardownJob>& batch);  // with mutex_ held
  uint32_t next_group();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<TeardownJob> jobs_;
  std::map<std::string, int> pending_;  // key -> jobs queued or running
  std::vector<int> finished_links_;      // for take_finished()
  bool stopping_ = false;
  bool collecting_ = false;             // a worker is gathering a batch
  bool urgent_ = false;                 // wait_for_name() waits: no more gathering
  int running_ = 0;                     // workers running a batch
  const uint32_t group_base_;           // random, so no one else's links share our ifgroups
  std::atomic<uint32_t> batches_{0};
  std::mutex caller_mutex_;               // guards caller_rtnl_
  std::optional<rtnl::Rtnl> caller_rtnl_;  // for jobs wait_for() runs in its caller's thread
  std::vector<std::optional<rtnl::Rtnl>> worker_rtnl_;
  std::vector<std::thread> workers_;
};

}  // namespace vnet
