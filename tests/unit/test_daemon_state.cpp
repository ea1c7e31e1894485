// DaemonState with --state-sync background: a commit is written at once and
// flushed to the device by the flusher thread, kFlushIntervalMs later, from
// the daemon's loop; with each-commit nothing is left for such a flush.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <ostream>

#include "ctl/announcer.h"
#include "ctl/daemon_state.h"
#include "ctl/loop/loop_timer.h"

namespace vnet {
namespace state {
// How GoogleTest names the parameter in test names.
void PrintTo(SyncPolicy sync, std::ostream* out) {
  *out << (sync == SyncPolicy::kBackground ? "background" : "each-commit");
}
}  // namespace state

namespace {

class DaemonStateTest : public ::testing::TestWithParam<state::SyncPolicy> {
 protected:
  void SetUp() override {
    char dir[] = "/dev/shm/vnet-daemon-state-XXXXXX";
    dir_ = mkdtemp(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_P(DaemonStateTest, ACommitIsFlushedFromTheLoopAfterTheInterval) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  NetdevRegistry registry;
  Announcer announcer(**loop, registry);
  DaemonState state(dir_, registry, **loop, GetParam());
  state.set_announcer(&announcer);
  ASSERT_TRUE(state.load());
  ASSERT_TRUE(state.save_now());
  EXPECT_EQ(state.background_flushes(), 0u) << "a snapshot is fsynced as it is written";

  // A change to commit: an announce timer (due at the end of time) in the state.
  qapi::AnnounceParameters never;
  never.initial = never.max = never.step = INT64_MAX;
  never.rounds = 5;
  ASSERT_TRUE(announcer.start(never));
  state.sections_changed();
  auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration flushed_after{};
  // Each-commit owes no flush: waiting past one interval shows none comes.
  auto give_up = std::chrono::milliseconds(DaemonState::kFlushIntervalMs *
                                           (GetParam() == state::SyncPolicy::kBackground ? 6 : 3) / 2);
  std::unique_ptr<LoopTimer> poll;
  auto check = [&] {
    bool flushed = state.background_flushes() > 0;
    auto waited = std::chrono::steady_clock::now() - started;
    if (flushed) flushed_after = waited;
    if (flushed || waited > give_up) {
      (*loop)->stop();
    } else {
      poll->arm_ms(20);
    }
  };
  auto made = LoopTimer::create(**loop, check);
  ASSERT_TRUE(made);
  poll = std::move(*made);
  poll->arm_ms(20);
  (*loop)->run();
  EXPECT_FALSE(state.uncommitted());
  if (GetParam() == state::SyncPolicy::kBackground) {
    ASSERT_EQ(state.background_flushes(), 1u) << "one flush for the commit, from the loop's timer";
    EXPECT_GE(flushed_after, std::chrono::milliseconds(DaemonState::kFlushIntervalMs - 50));
  } else {
    EXPECT_EQ(state.background_flushes(), 0u) << "each commit was flushed as it was made";
  }
  // What a restarted daemon reads has the change, either way.
  NetdevRegistry other_registry;
  DaemonState reader(dir_, other_registry, **loop);
  auto loaded = reader.load();
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((**loaded)["announce-timers"].size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(SyncPolicies, DaemonStateTest,
                         ::testing::Values(state::SyncPolicy::kBackground, state::SyncPolicy::kEachCommit),
                         [](const auto& info) {
                           return info.param == state::SyncPolicy::kBackground ? "Background" : "EachCommit";
                         });

}  // namespace
}  // namespace vnet
