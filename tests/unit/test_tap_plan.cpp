// Tap option combinations refused as QEMU's net_init_tap() refuses them.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "backends/tap/bridge/bridge_acl.h"
#include "backends/tap/tap_plan.h"

namespace vnet {
namespace {

using qapi::NetdevTapOptions;

std::string refusal(const NetdevTapOptions& o) {
  auto plan = tap::plan_tap(o);
  return plan ? "" : plan.error().message;
}

TEST(TapPlan, DefaultsCreateOneQueueWithVnetHdrAndNoScripts) {
  auto plan = tap::plan_tap({});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->source, tap::Source::create);
  EXPECT_EQ(plan->queues, 1u);
  EXPECT_TRUE(plan->vnet_hdr_wanted);
  EXPECT_FALSE(plan->vnet_hdr_required);
  EXPECT_EQ(plan->script, "");
  EXPECT_EQ(plan->vhost, tap::VhostMode::off);
}

TEST(TapPlan, ABridgeNetdevIsANewTapOnBr0UnlessToldOtherwise) {
  auto plain = tap::plan_bridge({});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->bridge, "br0");
  EXPECT_NE(plain->source, tap::Source::helper);
  qapi::NetdevBridgeOptions options;
  options.br = "vnbr7";
  options.helper = "/usr/lib/qemu/qemu-bridge-helper";
  auto helped = tap::plan_bridge(options);
  ASSERT_TRUE(helped);
  EXPECT_EQ(helped->bridge, "vnbr7");
  EXPECT_EQ(helped->source, tap::Source::helper);
  EXPECT_EQ(helped->helper, "/usr/lib/qemu/qemu-bridge-helper");
  options.netns = "/run/netns/x";
  auto refused = tap::plan_bridge(options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "netns= is invalid with helper=: the helper runs in vnetd's namespace");
}

TEST(TapPlan, FdExcludesOtherSources) {
  NetdevTapOptions o;
  o.fd = "x";
  o.queues = 2;
  EXPECT_EQ(refusal(o), "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= are invalid with fd=");
  NetdevTapOptions f;
  f.fds = "a:b";
  f.vhostfd = "v";
  EXPECT_EQ(refusal(f), "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= are invalid with fds=");
  NetdevTapOptions h;
  h.helper = "/bin/true";
  h.ifname = "x";
  EXPECT_EQ(refusal(h), "ifname=, script=, downscript=, vnet_hdr=, queues=, and vhostfds= are invalid with helper=");
}

TEST(TapPlan, FdsAndVhostfdsMustPair) {
  NetdevTapOptions o;
  o.fds = "a:b:c";
  o.vhostfds = "x:y";
  EXPECT_EQ(refusal(o), "The number of fds passed does not match the number of vhostfds passed");
  o.vhostfds = "x:y:z";
  auto plan = tap::plan_tap(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->queues, 3u);
  EXPECT_EQ(plan->vhost, tap::VhostMode::named_fds);
  EXPECT_EQ(plan->fd_names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(TapPlan, VhostRules) {
  NetdevTapOptions o;
  o.vhostfds = "x";
  EXPECT_EQ(refusal(o), "vhostfds= is invalid if fds= wasn't specified");
  NetdevTapOptions off;
  off.vhost = false;
  off.vhostfd = "v";
  EXPECT_EQ(refusal(off), "vhostfd(s)= is not valid without vhost");
  NetdevTapOptions force;
  force.vhostforce = true;
  auto plan = tap::plan_tap(force);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->vhost, tap::VhostMode::open_device);
  EXPECT_TRUE(plan->vhost_required);
}

TEST(TapPlan, NamesAndQueuesWithinKernelLimits) {
  NetdevTapOptions o;
  o.ifname = "0123456789abcdef";  // 16 bytes: QEMU would cut it silently
  EXPECT_NE(refusal(o), "");
  o.ifname = "0123456789abcde";
  EXPECT_EQ(refusal(o), "");
  NetdevTapOptions q;
  q.queues = 0;
  EXPECT_NE(refusal(q), "");
  q.queues = 257;
  EXPECT_NE(refusal(q), "");
  q.queues = 256;
  EXPECT_EQ(refusal(q), "");
}

TEST(TapPlan, ScriptNoMeansNone) {
  NetdevTapOptions o;
  o.script = "no";
  o.downscript = "/sbin/down";
  auto plan = tap::plan_tap(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->script, "");
  EXPECT_EQ(plan->downscript, "/sbin/down");
}

TEST(BridgeAcl, DenyWinsAndDefaultDenies) {
  auto acl = bridge::BridgeAcl::parse("# comment\nallow all\ndeny br1\n", "t");
  ASSERT_TRUE(acl);
  EXPECT_TRUE(acl->allows("br0"));
  EXPECT_FALSE(acl->allows("br1"));
  auto empty = bridge::BridgeAcl::parse("", "t");
  EXPECT_FALSE(empty->allows("br0"));
  auto only = bridge::BridgeAcl::parse("allow br0\n", "t");
  EXPECT_TRUE(only->allows("br0"));
  EXPECT_FALSE(only->allows("br00"));
  auto deny_all = bridge::BridgeAcl::parse("allow br0\ndeny all\n", "t");
  EXPECT_FALSE(deny_all->allows("br0"));
}

TEST(BridgeAcl, ErrorsNameFileAndLine) {
  auto bad = bridge::BridgeAcl::parse("allow br0\npermit br1\n", "acl.conf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "acl.conf:2: unknown command 'permit' in acl file");
  auto missing = bridge::BridgeAcl::parse("include /nonexistent/acl\n", "acl.conf");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("acl.conf:1"), std::string::npos);
  auto no_file = bridge::BridgeAcl::load("/nonexistent/bridge.conf");
  ASSERT_TRUE(no_file);
  EXPECT_FALSE(no_file->allows("br0"));
}

// Includes of what is not a regular file, or too many of them, are errors
// that name the file, not a hang (a FIFO), a bad_alloc (/dev/zero), an empty
// ACL (a directory) or a start that takes seconds (issue 17, defect 9).
TEST(BridgeAcl, IncludesOnlyRegularFilesAndBoundedFanOut) {
  char dir[] = "/tmp/vnet-acl-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string fifo = std::string(dir) + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& target : {fifo, std::string("/dev/zero"), std::string(dir)}) {
    auto acl = bridge::BridgeAcl::parse("include " + target + "\n", "acl.conf");
    ASSERT_FALSE(acl) << target;
    EXPECT_NE(acl.error().message.find("not a regular file"), std::string::npos) << acl.error().message;
  }
  // One file including 70 others: a fan-out past the bound, at depth 1.
  std::string wide = std::string(dir) + "/wide";
  {
    std::FILE* f = std::fopen(wide.c_str(), "w");
    ASSERT_TRUE(f);
    for (int i = 0; i < 70; i++) {
      std::string part = std::string(dir) + "/part" + std::to_string(i);
      std::FILE* p = std::fopen(part.c_str(), "w");
      ASSERT_TRUE(p);
      std::fputs("allow br0\n", p);
      std::fclose(p);
      std::fprintf(f, "include %s\n", part.c_str());
    }
    std::fclose(f);
  }
  auto fanned = bridge::BridgeAcl::load(wide);
  ASSERT_FALSE(fanned);
  EXPECT_NE(fanned.error().message.find("included in all"), std::string::npos) << fanned.error().message;
  for (int i = 0; i < 70; i++) unlink((std::string(dir) + "/part" + std::to_string(i)).c_str());
  unlink(wide.c_str());
  unlink(fifo.c_str());
  rmdir(dir);
}

TEST(TapPlan, NetnsIsForATapVnetdMakesItself) {
  NetdevTapOptions o;
  o.netns = "/run/netns/pod1";
  o.ifname = "eth0";
  auto plan = tap::plan_tap(o);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->netns, "/run/netns/pod1");
  o.netns = "pod1";
  EXPECT_EQ(refusal(o), "netns=pod1 is not an absolute path");
  o.netns = "/run/netns/pod1";
  o.script = "/etc/qemu-ifup";
  EXPECT_EQ(refusal(o), "netns= is invalid with script= and downscript=: they run in vnetd's namespace");
  NetdevTapOptions with_fd;
  with_fd.netns = "/run/netns/pod1";
  with_fd.fd = "tapfd";
  EXPECT_EQ(refusal(with_fd), "netns= is invalid with fd= and fds=: the fds' tap is in the namespace it was opened in");
}

TEST(TapPlan, MtuAndMacAreCheckedBeforeAnythingIsMade) {
  NetdevTapOptions o;
  o.mtu = 1400;
  o.mac = "02:00:00:AA:bb:01";
  auto plan = tap::plan_tap(o);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(*plan->mtu, 1400u);
  EXPECT_EQ(*plan->mac, (MacBytes{0x02, 0x00, 0x00, 0xaa, 0xbb, 0x01}));
  o.mtu = 67;
  EXPECT_EQ(refusal(o), "mtu=67 is out of range: a tap's MTU is 68 to 65521");
  o.mtu = 65522;
  EXPECT_EQ(refusal(o), "mtu=65522 is out of range: a tap's MTU is 68 to 65521");
  o.mtu.reset();
  o.mac = "01:00:5e:00:00:01";
  EXPECT_EQ(refusal(o), "mac=01:00:5e:00:00:01 is a multicast address");
  o.mac = "02:00:00:00:00";
  EXPECT_EQ(refusal(o), "mac=02:00:00:00:00 is not a MAC address (xx:xx:xx:xx:xx:xx)");
  o.mac = "00:00:00:00:00:00";
  EXPECT_EQ(refusal(o), "mac=00:00:00:00:00:00 is all zeros");
}

TEST(TapPlan, HoldQueuesFalseIsForATapSomeoneElseOpensByName) {
  NetdevTapOptions o;
  o.hold_queues = false;
  EXPECT_EQ(refusal(o), "hold-queues=false needs owner= or group=: else only root could open the tap's queues");
  o.owner = 4242;
  auto plan = tap::plan_tap(o);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_FALSE(plan->hold_queues);
  EXPECT_TRUE(tap::plan_tap(NetdevTapOptions{})->hold_queues);
  NetdevTapOptions fds;
  fds.fds = "a:b";
  fds.hold_queues = false;
  fds.group = 7;
  EXPECT_EQ(refusal(fds), "hold-queues=false is for a tap vnetd makes, not with fd=, fds= or helper=");
}

}  // namespace
}  // namespace vnet
