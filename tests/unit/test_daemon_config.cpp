// --config: what a bad file gets is an error naming the file, line and key.
#include <gtest/gtest.h>

#include "ctl/config/daemon_config.h"

namespace vnet::config {
namespace {

// A rule's netdev type of the wrong TOML type (issue 17's `netdev = { type = 5 }`)
// is refused like any other type, instead of an uncaught exception ending
// vnetd (found by tests/fuzz/fuzz_config).
TEST(DaemonConfig, ARuleNetdevTypeOfTheWrongTypeIsAnError) {
  for (const char* type : {"5", "true", "[\"tap\"]", "{ a = 1 }"}) {
    auto config = parse(std::string("[[rule]]\nmatch = { ifname = \"vm-*\" }\nnetdev = { type = ") + type + " }\n",
                        "vnetd.toml");
    ASSERT_FALSE(config) << type;
    EXPECT_EQ(config.error().message,
              "vnetd.toml:3: key 'rule.netdev.type': a rule adopts a device as a \"tap\" or \"bridge\" netdev");
  }
  EXPECT_TRUE(parse("[[rule]]\nmatch = { ifname = \"vm-*\" }\nnetdev = { type = \"tap\", id = \"{ifname}\" }\n",
                    "vnetd.toml"));
}

}  // namespace
}  // namespace vnet::config
