// vnetctl vdpa selftest: its arguments and its text output.
#include <gtest/gtest.h>

#include "ctl/cli/vdpa_selftest_command.h"

namespace vnet::cli {
namespace {

TEST(VdpaSelftestCli, Arguments) {
  auto plain = parse_selftest_args({"vdpa0"});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->dump(), R"({"dev":"vdpa0"})");
  auto full = parse_selftest_args({"vdpa0", "frames", "16", "timeout", "500"});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->dump(), R"({"dev":"vdpa0","frames":16,"timeout-ms":500})");
  EXPECT_FALSE(parse_selftest_args({}));
  EXPECT_FALSE(parse_selftest_args({"vdpa0", "frames"}));
  EXPECT_FALSE(parse_selftest_args({"vdpa0", "frames", "0"}));
  EXPECT_FALSE(parse_selftest_args({"vdpa0", "frames", "x"}));
  EXPECT_FALSE(parse_selftest_args({"vdpa0", "speed", "1"}));
}

TEST(VdpaSelftestCli, OneLinePerQueuePairAndAVerdict) {
  auto passed = nlohmann::ordered_json::parse(
      R"({"dev":"v0","vhost-dev":"/dev/vhost-vdpa-0","passed":true,"queue-pairs":[{"queue-pair":0,"sent":8,"received":8,"matched":8}]})");
  EXPECT_EQ(format_selftest(passed),
            "v0 queue pair 0: sent 8 received 8 matched 8 ok\nv0 (/dev/vhost-vdpa-0): self-test passed\n");
  auto failed = nlohmann::ordered_json::parse(
      R"({"dev":"v0","vhost-dev":"/dev/vhost-vdpa-0","passed":false,"queue-pairs":[{"queue-pair":0,"sent":8,"received":7,"matched":7,"error":"1 of 8 frames did not come back within 2000 ms"}]})");
  EXPECT_EQ(format_selftest(failed),
            "v0 queue pair 0: sent 8 received 7 matched 7 FAILED: 1 of 8 frames did not come back within 2000 ms\n"
            "v0 (/dev/vhost-vdpa-0): self-test FAILED\n");
}

}  // namespace
}  // namespace vnet::cli
