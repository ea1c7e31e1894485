// Rtnl::get_tun_info reads tun's IFLA_LINKINFO: queue count, flags, persist;
// and IFLA_CARRIER changes a tap's carrier. In a private network namespace.
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <linux/if.h>
#include <sched.h>

#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/tun.h"

namespace vnet {
namespace {

TEST(RtnlTunInfo, QueuesFlagsPersistAndCarrier) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  auto rtnl = rtnl::Rtnl::connect();
  ASSERT_TRUE(rtnl) << rtnl.error().message;
  std::vector<UniqueFd> queues;
  for (int i = 0; i < 3; i++) {
    auto fd = tun::open_device();
    ASSERT_TRUE(fd) << fd.error().message;
    auto name = tun::set_iff(fd->get(), "ti0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR);
    ASSERT_TRUE(name) << name.error().message;
    queues.push_back(std::move(*fd));
  }
  ASSERT_TRUE(tun::set_persist(queues[0].get(), true));
  auto link = rtnl->get_link("ti0");
  ASSERT_TRUE(link);
  auto info = rtnl->get_tun_info(link->ifindex);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->tap);
  EXPECT_TRUE(info->multi_queue);
  EXPECT_TRUE(info->vnet_hdr);
  EXPECT_TRUE(info->persist);
  EXPECT_EQ(info->num_queues, 3u);
  rtnl::LinkChange change;
  change.up = true;
  change.carrier = false;
  ASSERT_TRUE(rtnl->change_link(link->ifindex, change));
  EXPECT_FALSE(rtnl->get_link(link->ifindex)->flags & IFF_LOWER_UP);
  change.carrier = true;
  ASSERT_TRUE(rtnl->change_link(link->ifindex, change));
  EXPECT_TRUE(rtnl->get_link(link->ifindex)->flags & IFF_LOWER_UP);

  queues.pop_back();
  EXPECT_EQ(rtnl->get_tun_info(link->ifindex)->num_queues, 2u);
  queues.clear();  // persistent: the device stays, with no queue
  // tun refuses carrier on without a queue (tun_net_change_carrier()).
  rtnl::LinkChange on;
  on.carrier = true;
  EXPECT_FALSE(rtnl->change_link(link->ifindex, on));
  info = rtnl->get_tun_info(link->ifindex);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->num_queues, 0u);

  auto lo = rtnl->get_tun_info(1);
  ASSERT_FALSE(lo);
  EXPECT_NE(lo.error().message.find("not a tun/tap device"), std::string::npos) << lo.error().message;
  EXPECT_FALSE(rtnl->get_tun_info(999999));
  EXPECT_TRUE(rtnl->get_link("lo")) << "the socket is still in step after the errors";
  ASSERT_TRUE(rtnl->delete_link(link->ifindex));
}

// With NETLINK_EXT_ACK, a refused change carries the kernel's reason.
TEST(RtnlErrors, CarryTheKernelsReason) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  auto rtnl = rtnl::Rtnl::connect();
  ASSERT_TRUE(rtnl) << rtnl.error().message;
  ASSERT_TRUE(rtnl->add_bridge("rb0"));
  ASSERT_TRUE(rtnl->add_bridge("rb1"));
  int inner = rtnl->get_link("rb1")->ifindex;
  rtnl::LinkChange into_bridge;
  into_bridge.master = rtnl->get_link("rb0")->ifindex;
  auto refused = rtnl->change_link(inner, into_bridge);
  ASSERT_FALSE(refused);
  // br_add_if(): a bridge cannot be a port of a bridge.
  EXPECT_NE(refused.error().message.find("RTM_SETLINK of ifindex " + std::to_string(inner) + ": "), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("(Can not enslave a bridge to a bridge)"), std::string::npos)
      << refused.error().message;
  // The next error does not repeat it.
  auto missing = rtnl->delete_link(999999);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errnum, ENODEV);
  EXPECT_EQ(missing.error().message.find("enslave"), std::string::npos) << missing.error().message;
}

}  // namespace
}  // namespace vnet
