// What of an l2tpv3 netdev the kernel's l2tp_eth is given: which options it
// can carry, and the session as QEMU's wire has it (cookies as their wire
// bytes, the counter as the default sublayer). The lab (lab_l2tp) shows the
// kernel agreeing on the wire.
#include <gtest/gtest.h>

#include "backends/l2tpv3/l2tpv3_offload.h"

namespace vnet::l2tpv3 {
namespace {

TEST(L2tpv3Offload, TheKernelCarriesEverythingButAnOffsetAndSessionZero) {
  Layout layout{.udp = true, .cookie = true, .cookie64 = true, .counter = true, .pin_counter = true,
                .tx_session = 1, .rx_session = 2};
  EXPECT_EQ(kernel_cannot_carry(layout), "");
  layout.udp = false;
  layout.ipv6 = true;
  EXPECT_EQ(kernel_cannot_carry(layout), "");
  layout.offset = 2;
  EXPECT_EQ(kernel_cannot_carry(layout), "offset=2: the kernel's L2TPv3 has no offset");
  layout.offset = 0;
  layout.tx_session = 0;
  EXPECT_EQ(kernel_cannot_carry(layout), "session id 0: the kernel reserves it");
}

TEST(L2tpv3Offload, TheSessionIsQemusWire) {
  Layout layout{.cookie = true, .tx_session = 0x11, .rx_session = 0x22, .tx_cookie = 0xAABBCCDD,
                .rx_cookie = 0x01020304};
  l2tp::Session session = kernel_session(layout, 7);
  EXPECT_EQ(session.tunnel_id, 7u);
  EXPECT_EQ(session.id, 0x22u) << "the kernel's own session id is the one received packets carry";
  EXPECT_EQ(session.peer_id, 0x11u);
  EXPECT_EQ(session.cookie, (std::vector<uint8_t>{0xaa, 0xbb, 0xcc, 0xdd})) << "sent";
  EXPECT_EQ(session.peer_cookie, (std::vector<uint8_t>{1, 2, 3, 4})) << "required";
  EXPECT_FALSE(session.default_sublayer);

  layout.cookie64 = true;
  layout.tx_cookie = 0x1122334455667788;
  layout.counter = true;
  session = kernel_session(layout, 7);
  EXPECT_EQ(session.cookie, (std::vector<uint8_t>{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
  EXPECT_TRUE(session.default_sublayer) << "the counter word is the default L2-specific sublayer";

  layout.cookie = false;
  session = kernel_session(layout, 7);
  EXPECT_TRUE(session.cookie.empty());
  EXPECT_TRUE(session.peer_cookie.empty());
}

}  // namespace
}  // namespace vnet::l2tpv3
