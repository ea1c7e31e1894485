// `vnetctl vdpa dev add` arguments and MAC parsing: what is refused before
// the kernel is asked (the requests themselves are tested in the kernel lab).
#include <gtest/gtest.h>

#include "ctl/cli/vdpa_command.h"
#include "kernel_ifaces/vdpa_genl.h"

namespace vnet::cli {
namespace {

TEST(VdpaArgs, DevAddTakesIproute2sKeys) {
  auto parsed = parse_dev_add({"name", "vd0", "mgmtdev", "pci/0000:65:00.2", "mac", "52:54:00:AB:cd:01", "mtu",
                               "9000", "max_vqp", "4"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->name, "vd0");
  EXPECT_EQ(parsed->mgmtdev, "pci/0000:65:00.2");
  EXPECT_EQ(parsed->mac, (vdpa::Mac{0x52, 0x54, 0x00, 0xab, 0xcd, 0x01}));
  EXPECT_EQ(parsed->mtu, 9000);
  EXPECT_EQ(parsed->max_vqp, 4);

  auto bare = parse_dev_add({"mgmtdev", "vduse", "name", "vd1"});
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_FALSE(bare->mac);
  EXPECT_FALSE(bare->mtu);
  EXPECT_FALSE(bare->max_vqp);
}

TEST(VdpaArgs, DevAddRefusesWhatTheKernelWouldNotTake) {
  auto refused = [](std::vector<std::string> args, const std::string& says) {
    auto parsed = parse_dev_add(args);
    ASSERT_FALSE(parsed) << "accepted: " << testing::PrintToString(args);
    EXPECT_NE(parsed.error().message.find(says), std::string::npos) << parsed.error().message;
  };
  refused({"name", "vd0"}, "name and mgmtdev are required");
  refused({"mgmtdev", "vduse"}, "name and mgmtdev are required");
  refused({"name", "vd0", "mgmtdev"}, "'mgmtdev' needs a value");
  refused({"name", "vd0", "mgmtdev", "vduse", "mac", "52:54:00:ab:cd"}, "not a MAC address");
  refused({"name", "vd0", "mgmtdev", "vduse", "mtu", "65536"}, "mtu '65536'");
  refused({"name", "vd0", "mgmtdev", "vduse", "mtu", "-1"}, "mtu '-1'");
  refused({"name", "vd0", "mgmtdev", "vduse", "max_vqp", "0"}, "max_vqp '0'");
  refused({"name", "vd0", "mgmtdev", "vduse", "max_vqp", "2x"}, "max_vqp '2x'");
  refused({"name", "vd0", "mgmtdev", "vduse", "queues", "2"}, "unknown option 'queues'");
}

TEST(VdpaArgs, MacNeedsSixColonSeparatedBytes) {
  EXPECT_EQ(vdpa::parse_mac("02:00:00:00:00:ff"), (vdpa::Mac{0x02, 0, 0, 0, 0, 0xff}));
  EXPECT_FALSE(vdpa::parse_mac("02:00:00:00:00"));
  EXPECT_FALSE(vdpa::parse_mac("02:00:00:00:00:ff:"));
  EXPECT_FALSE(vdpa::parse_mac("02:00:00:00:00:fff"));
  EXPECT_FALSE(vdpa::parse_mac("2:0:0:0:0:ff"));
  EXPECT_FALSE(vdpa::parse_mac("02-00-00-00-00-ff"));
  EXPECT_FALSE(vdpa::parse_mac(" 2:00:00:00:00:ff"));
  EXPECT_FALSE(vdpa::parse_mac("+2:00:00:00:00:ff"));
  EXPECT_FALSE(vdpa::parse_mac("0x:00:00:00:00:ff"));
  EXPECT_FALSE(vdpa::parse_mac(""));
}

}  // namespace
}  // namespace vnet::cli
