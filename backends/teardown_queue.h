// TeardownQueue - runs the slow part of removing a netdev (downscripts,
// closing the last fd of a tap, which makes the kernel unregister the device
// and wait for an RCU grace period, ~17 ms) on a worker thread, so that
// netdev_del answers at once. Jobs carry a key (an ifname): creating a device
// of that name first waits for its pending teardown, so del + re-add works.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vnet {

class TeardownQueue {
 public:
  // Jobs mostly sleep in the kernel (RCU grace periods), so a few run at once.
  static constexpr int kWorkers = 4;

  TeardownQueue();
  ~TeardownQueue();  // runs every queued job before returning
  TeardownQueue(const TeardownQueue&) = delete;
  TeardownQueue& operator=(const TeardownQueue&) = delete;

  void submit(const std::string& key, std::function<void()> job);
  // Until no job with this key is pending; one not yet started runs here and
  // now rather than waiting behind every job queued before it.
  void wait_for(const std::string& key);
  void drain();                           // until every job queued so far has run

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<std::string, std::function<void()>>> jobs_;
  std::map<std::string, int> pending_;  // key -> jobs queued or running
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vnet
