// TeardownQueue: every job runs exactly once, `before` ahead of `release`,
// wait_for() returns only once its key's jobs are done, and batching never
// loses a job when wait_for() takes jobs from under a gathering worker.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <thread>

#include "backends/teardown_queue.h"

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

}  // namespace
}  // namespace vnet
