// vnetctl nic anti-spoof: words to set-anti-spoof's arguments.
#include <gtest/gtest.h>

#include "ctl/cli/nic_command.h"

namespace vnet::cli {
namespace {

TEST(NicCommand, AntiSpoofOnWithPrefixesAndMode) {
  auto args = anti_spoof_arguments({"anti-spoof", "n0", "on", "--allow", "10.0.0.5/32", "--allow", "2001:db8::/64",
                                    "--other", "drop"});
  ASSERT_TRUE(args) << args.error().message;
  EXPECT_EQ(args->dump(),
            R"({"name":"n0","enable":true,"other-ethertypes":"drop","allowed-ips":["10.0.0.5/32","2001:db8::/64"]})");
}

TEST(NicCommand, AntiSpoofOnAloneAndOff) {
  auto on = anti_spoof_arguments({"anti-spoof", "n0", "on"});
  ASSERT_TRUE(on);
  EXPECT_EQ(on->dump(), R"({"name":"n0","enable":true,"allowed-ips":[]})");
  auto off = anti_spoof_arguments({"anti-spoof", "n0", "off"});
  ASSERT_TRUE(off);
  EXPECT_EQ(off->dump(), R"({"name":"n0","enable":false})");
}

TEST(NicCommand, RefusesWhatItCannotMean) {
  for (const auto& words : std::vector<std::vector<std::string>>{
           {},
           {"anti-spoof"},
           {"anti-spoof", "n0"},
           {"anti-spoof", "n0", "yes"},
           {"rx-filter", "n0", "on"},
           {"anti-spoof", "n0", "on", "--allow"},
           {"anti-spoof", "n0", "on", "--other", "maybe"},
           {"anti-spoof", "n0", "on", "--bogus", "x"},
           {"anti-spoof", "n0", "off", "--allow", "10.0.0.5/32"}}) {
    EXPECT_FALSE(anti_spoof_arguments(words)) << ::testing::PrintToString(words);
  }
}

}  // namespace
}  // namespace vnet::cli
