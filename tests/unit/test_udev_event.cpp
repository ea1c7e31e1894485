// `vnetctl udev`: udev's environment as udev-event's arguments.
#include <gtest/gtest.h>

#include <map>

#include "ctl/cli/udev_event.h"

namespace vnet::cli {
namespace {

Result<nlohmann::ordered_json> event_of(std::map<std::string, std::string> environment) {
  return udev_event_from_env([&](const char* name) { return environment[name]; });
}

TEST(UdevEvent, CarriesTheDevice) {
  auto event = event_of({{"ACTION", "add"}, {"SUBSYSTEM", "net"}, {"INTERFACE", "vm-1"}, {"IFINDEX", "7"}, {"X", "y"}});
  ASSERT_TRUE(event);
  EXPECT_EQ(*event, nlohmann::ordered_json::parse(
                        R"({"action":"add","subsystem":"net","interface":"vm-1","ifindex":7})"));
}

TEST(UdevEvent, RefusesWhatVnetdCannotCarry) {
  EXPECT_FALSE(event_of({{"SUBSYSTEM", "net"}}));
  auto not_utf8 = event_of({{"ACTION", "add"}, {"SUBSYSTEM", "net"}, {"INTERFACE", "fz\xff"}});
  ASSERT_FALSE(not_utf8);
  EXPECT_EQ(not_utf8.error().message, "udev: INTERFACE is not valid UTF-8; vnetd leaves such devices alone");
  // Too long for an int64, or not a number: left out, the event still goes.
  for (const char* ifindex : {"99999999999999999999", "7x", "-1"}) {
    auto event = event_of({{"ACTION", "add"}, {"SUBSYSTEM", "net"}, {"IFINDEX", ifindex}});
    ASSERT_TRUE(event);
    EXPECT_FALSE(event->contains("ifindex")) << ifindex;
  }
}

}  // namespace
}  // namespace vnet::cli
