// announce-self's schedule (QEMU's net/announce.c) and its RARP frame.
#include <gtest/gtest.h>

#include "backends/nic/announce_frames.h"
#include "ctl/announcer.h"
#include "ctl/daemon_state.h"

namespace vnet {
namespace {

qapi::AnnounceParameters params(int64_t initial, int64_t max, int64_t rounds, int64_t step) {
  qapi::AnnounceParameters p;
  p.initial = initial;
  p.max = max;
  p.rounds = rounds;
  p.step = step;
  return p;
}

// The delay before each round after the first (sent at once): QEMU's
// qemu_announce_timer_step() with round = rounds still to send.
std::vector<int64_t> delays(const qapi::AnnounceParameters& p) {
  std::vector<int64_t> out;
  for (int64_t left = p.rounds - 1; left > 0; left--) out.push_back(announce_delay_ms(p, left));
  return out;
}

TEST(Announce, ScheduleIsQemus) {
  // QEMU's migration defaults: 50 ms, then +100 a round, capped at 550.
  EXPECT_EQ(delays(params(50, 550, 5, 100)), (std::vector<int64_t>{50, 150, 250, 350}));
  EXPECT_EQ(delays(params(50, 200, 6, 100)), (std::vector<int64_t>{50, 150, 200, 200, 200}));
  // The reference capture: two frames at once, the third 50 ms later.
  EXPECT_EQ(delays(params(0, 100, 3, 50)), (std::vector<int64_t>{0, 50}));
  EXPECT_EQ(delays(params(100, 250, 4, 100)), (std::vector<int64_t>{100, 200, 250}));
  EXPECT_TRUE(delays(params(10, 10, 1, 10)).empty());
  // max below initial wins, as in QEMU.
  EXPECT_EQ(delays(params(500, 20, 3, 0)), (std::vector<int64_t>{20, 20}));
}

TEST(Announce, HugeStepsSaturateAtMaxInsteadOfOverflowing) {
  // (rounds - left - 1) * step overflows 64 bits here: the delay is max.
  auto p = params(0, 550, 2147483647, INT64_MAX / 2);
  EXPECT_EQ(announce_delay_ms(p, 3), 550);
  EXPECT_EQ(announce_delay_ms(p, 2147483646), 0);
}

// A timer due in INT64_MAX ms (max and step that large) is due at the end of
// time, not at a negative time from a signed overflow; nor does a saved due
// time far in the past overflow when it is resumed (found by
// tests/fuzz/fuzz_qmp and fuzz_state under UBSan).
TEST(Announce, DueTimesSaturateInsteadOfOverflowing) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  NetdevRegistry registry;
  Announcer announcer(**loop, registry);
  ASSERT_TRUE(announcer.start(params(INT64_MAX, INT64_MAX, 5, INT64_MAX)));
  ASSERT_EQ(announcer.snapshot().size(), 1u);
  EXPECT_EQ(announcer.snapshot()[0].due_ms, INT64_MAX);
  Announcer::Snapshot saved{params(0, 0, 5, 0), 3, INT64_MIN};
  ASSERT_TRUE(announcer.resume(saved));
  EXPECT_GE(announcer.snapshot()[0].due_ms, 0);  // due at once
}

TEST(Announce, RarpIsQemusFrameByteForByte) {
  // shared/reference/qemu-7.2/announce-capture.txt, for 52:54:00:12:34:56.
  const std::vector<uint8_t> expected = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x80, 0x35, 0x00, 0x01,
      0x08, 0x00, 0x06, 0x04, 0x00, 0x03, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x00,
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(nic::rarp_announce({0x52, 0x54, 0x00, 0x12, 0x34, 0x56}), expected);
}

// A saved timer's rounds-left or due-ms with a fraction or exponent is a
// member of the wrong type, as a string is (vnetd stops naming the file),
// not converted with undefined behaviour (found by tests/fuzz/fuzz_state).
TEST(AnnounceTimers, ASavedTimersNumbersMustBeIntegers) {
  auto state = nlohmann::ordered_json::parse(
      R"({"announce-timers":[{"params":{"initial":50,"max":550,"rounds":5,"step":100},"rounds-left":3,"due-ms":2}]})");
  ASSERT_EQ(announce_timers(state).size(), 1u);
  for (const char* key : {"rounds-left", "due-ms"}) {
    for (double bad : {2.2e37, 1.5}) {
      auto broken = state;
      broken["announce-timers"][0][key] = bad;
      EXPECT_THROW((void)announce_timers(broken), nlohmann::json::type_error) << key << " " << bad;
    }
  }
}

}  // namespace
}  // namespace vnet
