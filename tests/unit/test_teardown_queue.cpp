// TeardownQueue: every job runs exactly once, `before` ahead of `release`,
// wait_for() returns only once its key's jobs are done, and batching never
// loses a job when wait_for() takes jobs from under a gathering worker.
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "backends/tap/teardown_queue.h"
#include "kernel_ifaces/tun.h"

namespace vnet {
namespace {

TEST(TeardownQueue, EveryJobRunsOnceAndWaitForWaitsForItsKey) {
  // Its own namespace: the ifindexes below name no device there, so the
  // deletions fail with ENODEV, which the queue takes as done.
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  constexpr int kJobs = 300;
  std::atomic<int> released{0};
  std::vector<std::atomic<int>> order(kJobs);  // 1 after before(), 2 after release()
  {
    TeardownQueue queue;
    for (int i = 0; i < kJobs; i++) {
      TeardownJob job;
      job.key = "k" + std::to_string(i % 10);
      job.ifindex = 1000 + i;
      if (i % 7 == 0) job.before = [&order, i] { order[i] = 1; };
      job.release = [&order, &released, i] {
        if (order[i] == 1 || i % 7 != 0) order[i] = 2;
        released++;
      };
      queue.submit(std::move(job));
      if (i % 50 == 49) {
        // Takes jobs of one key while a worker may be gathering a batch.
        queue.wait_for("k3");
        for (int j = 3; j <= i; j += 10) EXPECT_EQ(order[j], 2) << "job " << j << " not done after wait_for";
      }
    }
    queue.drain();
    EXPECT_EQ(released, kJobs);
  }
  EXPECT_EQ(released, kJobs) << "a job ran twice";
  for (int i = 0; i < kJobs; i++) EXPECT_EQ(order[i], 2) << "job " << i << " ran release() before before()";
}

// A re-add of a deleted tap's name waits until the kernel has unregistered
// the link, not until its teardown has wholly ended (the kernel's RCU waits,
// and here a slow release): wait_for_name() returns with the name free while
// the job is still running, and a new tap of that name can be made at once.
TEST(TeardownQueue, WaitForNameReturnsOnceTheNameIsFree) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  auto old_tap = tun::open_device();
  ASSERT_TRUE(old_tap) << old_tap.error().message;
  ASSERT_TRUE(tun::set_iff(old_tap->get(), "wn0", IFF_TAP | IFF_NO_PI));
  ASSERT_TRUE(tun::set_persist(old_tap->get(), true));
  unsigned ifindex = if_nametoindex("wn0");
  ASSERT_NE(ifindex, 0u);
  std::atomic<bool> released{false};
  constexpr auto kSlowRelease = std::chrono::milliseconds(600);
  TeardownQueue queue;
  TeardownJob job;
  job.key = "wn0";
  job.ifindex = static_cast<int>(ifindex);
  job.release = [&] {
    std::this_thread::sleep_for(kSlowRelease);
    released = true;
  };
  queue.submit(std::move(job));
  auto started = std::chrono::steady_clock::now();
  queue.wait_for_name("wn0");
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(if_nametoindex("wn0"), 0u) << "the name is free";
  EXPECT_FALSE(released) << "returned before the teardown had ended";
  EXPECT_LT(waited, kSlowRelease / 2);
  auto new_tap = tun::open_device();
  ASSERT_TRUE(new_tap);
  EXPECT_TRUE(tun::set_iff(new_tap->get(), "wn0", IFF_TAP | IFF_NO_PI)) << "a new tap of the name";
  EXPECT_NE(if_nametoindex("wn0"), ifindex);
  queue.drain();
  EXPECT_TRUE(released);
}

// A job with a `before` step (a downscript, given the link by name) runs in
// the caller, whole, as wait_for() runs it.
// The downscript (a job's before step) is given the link by name, so it must
// have run before the name can be used again: whether the job was still
// queued (then it runs here) or a worker had taken it (then the name is freed
// only after its before step). The link is real, so its name is held.
TEST(TeardownQueue, WaitForNameReturnsOnlyAfterTheBeforeStep) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  auto tap = tun::open_device();
  ASSERT_TRUE(tap) << tap.error().message;
  ASSERT_TRUE(tun::set_iff(tap->get(), "wb0", IFF_TAP | IFF_NO_PI));
  ASSERT_TRUE(tun::set_persist(tap->get(), true));
  tap->reset();  // persistent: the link stays until the job deletes it
  int ifindex = static_cast<int>(if_nametoindex("wb0"));
  ASSERT_NE(ifindex, 0);
  TeardownQueue queue;
  std::atomic<int> before{0}, released{0};
  TeardownJob job;
  job.key = "wb0";
  job.ifindex = ifindex;
  job.before = [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    before++;
  };
  job.release = [&] { released++; };
  queue.submit(std::move(job));
  queue.wait_for_name("wb0");
  EXPECT_EQ(before, 1);
  EXPECT_EQ(if_nametoindex("wb0"), 0u);
  queue.drain();
  EXPECT_EQ(released, 1);
}

}  // namespace
}  // namespace vnet
