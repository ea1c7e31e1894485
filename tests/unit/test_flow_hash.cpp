// flow_hash(): a flow's frames hash alike, whatever the payload; different
// flows spread; fragments of one datagram stay together.
#include "backends/datapath/flow_hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

namespace vnet::datapath {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes ethernet(uint16_t type, const Bytes& payload, int vlan = -1) {
  Bytes f{0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2};
  if (vlan >= 0) f.insert(f.end(), {0x81, 0x00, uint8_t(vlan >> 8), uint8_t(vlan)});
  f.insert(f.end(), {uint8_t(type >> 8), uint8_t(type)});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// IPv4 with `protocol`, ports and a payload byte; `fragment` is the 16-bit flags+offset word.
Bytes ipv4(uint8_t protocol, uint16_t sport, uint16_t dport, uint8_t fill, uint16_t fragment = 0, uint8_t last = 5) {
  Bytes p{0x45, 0, 0, 40, 0x12, 0x34, uint8_t(fragment >> 8), uint8_t(fragment), 64, protocol, 0, 0,
          10, 0, 0, 1, 10, 0, 0, last};
  Bytes l4{uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8), uint8_t(dport)};
  p.insert(p.end(), l4.begin(), l4.end());
  p.insert(p.end(), 16, fill);
  return p;
}

Bytes ipv6_udp(uint16_t sport, uint16_t dport, uint8_t fill) {
  Bytes p{0x60, 0, 0, 0, 0, 20, 17, 64};
  for (int i = 0; i < 16; i++) p.push_back(i == 0 ? 0x20 : (i == 15 ? 1 : 0));
  for (int i = 0; i < 16; i++) p.push_back(i == 0 ? 0x20 : (i == 15 ? 2 : 0));
  p.insert(p.end(), {uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8), uint8_t(dport)});
  p.insert(p.end(), 16, fill);
  return p;
}

TEST(FlowHash, AFlowsFramesHashAlikeWhateverTheirPayload) {
  EXPECT_EQ(flow_hash(ethernet(0x0800, ipv4(6, 1000, 80, 'a'))), flow_hash(ethernet(0x0800, ipv4(6, 1000, 80, 'b'))));
  EXPECT_EQ(flow_hash(ethernet(0x86dd, ipv6_udp(1000, 53, 'a'))), flow_hash(ethernet(0x86dd, ipv6_udp(1000, 53, 'z'))));
  // A tag is looked through: the flow inside decides.
  EXPECT_EQ(flow_hash(ethernet(0x0800, ipv4(17, 5, 6, 'a'), 7)), flow_hash(ethernet(0x0800, ipv4(17, 5, 6, 'q'), 7)));
}

TEST(FlowHash, PortsAddressesAndProtocolTellFlowsApart) {
  const auto base = flow_hash(ethernet(0x0800, ipv4(6, 1000, 80, 'a')));
  EXPECT_NE(base, flow_hash(ethernet(0x0800, ipv4(6, 1001, 80, 'a'))));
  EXPECT_NE(base, flow_hash(ethernet(0x0800, ipv4(6, 1000, 81, 'a'))));
  EXPECT_NE(base, flow_hash(ethernet(0x0800, ipv4(17, 1000, 80, 'a'))));
  EXPECT_NE(base, flow_hash(ethernet(0x0800, ipv4(6, 1000, 80, 'a', 0, 6))));
  EXPECT_NE(flow_hash(ethernet(0x86dd, ipv6_udp(1000, 53, 'a'))), flow_hash(ethernet(0x86dd, ipv6_udp(1001, 53, 'a'))));
}

TEST(FlowHash, EveryFragmentOfADatagramHashesAlike) {
  // First fragment (MF, offset 0) has ports; a later one (offset 185 * 8) has
  // payload where the ports were: both hash as the unfragmented flow does not.
  auto first = flow_hash(ethernet(0x0800, ipv4(17, 1000, 2000, 'a', 0x2000)));
  auto later = flow_hash(ethernet(0x0800, ipv4(17, 0x6161, 0x6161, 'a', 185)));
  EXPECT_EQ(first, later);
}

TEST(FlowHash, ManyFlowsSpreadOverQueues) {
  // 64 UDP flows over 4 queues: every queue gets some, none gets most.
  std::vector<int> per_queue(4);
  for (uint16_t port = 0; port < 64; port++) per_queue[flow_hash(ethernet(0x0800, ipv4(17, 4000 + port, 53, 0))) % 4]++;
  for (int count : per_queue) {
    EXPECT_GT(count, 4);
    EXPECT_LT(count, 32);
  }
}

TEST(FlowHash, OtherFramesHashByAddressesAndShortOnesDoNotCrash) {
  EXPECT_EQ(flow_hash(ethernet(0x88b5, Bytes(40, 1))), flow_hash(ethernet(0x88b5, Bytes(40, 2))));
  EXPECT_NE(flow_hash(ethernet(0x88b5, Bytes(40, 1))), flow_hash(ethernet(0x88b6, Bytes(40, 1))));
  // Truncated headers of every kind: hashed, never read past the end.
  for (const Bytes& full : {ethernet(0x0800, ipv4(6, 1, 2, 0)), ethernet(0x86dd, ipv6_udp(1, 2, 0)),
                            ethernet(0x0800, ipv4(6, 1, 2, 0), 5)}) {
    for (size_t size = 0; size <= full.size(); size++) (void)flow_hash(std::span(full).first(size));
  }
}

}  // namespace
}  // namespace vnet::datapath
