// IdleTrim: malloc_trim() once a burst of changes has ended, not during it,
// and not while the daemon stays idle.
#include <gtest/gtest.h>

#include "ctl/idle_trim.h"

namespace vnet {
namespace {

TEST(IdleTrim, TrimsOnceAfterABurstAndNotWhileIdleOrBusy) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  uint64_t changes = 0;
  auto trim = IdleTrim::create(**loop, [&changes] { return changes; });
  ASSERT_TRUE(trim);
  // Idle for 600 ms, then a change every 50 ms for 1 s, then idle again.
  int step = 0;
  uint64_t trims_before_burst = 99, trims_in_burst = 99;
  std::unique_ptr<LoopTimer> work;
  auto made = LoopTimer::create(**loop, [&] {
    if (step == 0) trims_before_burst = (*trim)->trims();
    if (step < 20) {
      changes++;
      step++;
      work->arm_ms(50);
    } else {
      trims_in_burst = (*trim)->trims();
    }
  });
  ASSERT_TRUE(made);
  work = std::move(*made);
  work->arm_ms(600);
  auto stop = LoopTimer::create(**loop, [&loop] { (*loop)->stop(); });
  ASSERT_TRUE(stop);
  (*stop)->arm_ms(2600);
  (*loop)->run();
  EXPECT_EQ(trims_before_burst, 0u) << "trimmed with nothing done";
  EXPECT_EQ(trims_in_burst, 0u) << "trimmed in the middle of a burst";
  EXPECT_EQ((*trim)->trims(), 1u) << "no trim after the burst, or more than one";
}

}  // namespace
}  // namespace vnet
