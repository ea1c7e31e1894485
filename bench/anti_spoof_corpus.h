// anti_spoof_corpus.h - one frame of every class anti_spoof.bpf.c decides
// on, with the verdict expected for a NIC with MAC kOwnMac, allowed-ips
// 10.0.0.5/32 and 2001:db8::/64. Shared by the unit test and the benchmark.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "ebpf/anti_spoof.h"

namespace vnet::spoof_corpus {

using Bytes = std::vector<uint8_t>;

inline const Bytes kOwnMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
inline const Bytes kOtherMac{0x52, 0x54, 0x00, 0x66, 0x66, 0x66};
inline const Bytes kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline const Bytes kAllowed4{10, 0, 0, 5};
inline const Bytes kOther4{10, 0, 0, 6};
inline const Bytes kZero4{0, 0, 0, 0};
inline const Bytes kAllowed6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
inline const Bytes kOther6{0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline const Bytes kLinkLocal6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56};
inline const Bytes kZero6(16, 0);
inline const Bytes kAllNodes6{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes eth(const Bytes& src, uint16_t type, const Bytes& payload, int vlan = -1) {
  Bytes f = cat({kBroadcast, src});
  if (vlan >= 0) f.insert(f.end(), {0x81, 0x00, uint8_t(vlan >> 8), uint8_t(vlan)});
  f.insert(f.end(), {uint8_t(type >> 8), uint8_t(type)});
  f.insert(f.end(), payload.begin(), payload.end());
  if (f.size() < 60) f.resize(60, 0);
  return f;
}

inline Bytes arp(const Bytes& sha, const Bytes& spa, uint16_t op = 1) {
  return cat({{0, 1, 0x08, 0x00, 6, 4, 0, uint8_t(op)}, sha, spa, Bytes(6, 0), {10, 0, 0, 1}});
}

inline Bytes udp(uint16_t sport, uint16_t dport) {
  return {uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8), uint8_t(dport), 0, 16, 0, 0,
          'v', 'n', 'e', 't', 's', 'p', 'o', 'f'};
}

inline Bytes ipv4(const Bytes& src, const Bytes& l4, uint8_t proto = 17) {
  uint16_t len = uint16_t(20 + l4.size());
  return cat({{0x45, 0, uint8_t(len >> 8), uint8_t(len), 0, 0, 0x40, 0, 64, proto, 0, 0}, src, {10, 0, 0, 1}, l4});
}

inline Bytes ipv6(const Bytes& src, uint8_t next, const Bytes& l4, const Bytes& dst = kAllNodes6) {
  uint16_t len = uint16_t(l4.size());
  return cat({{0x60, 0, 0, 0, uint8_t(len >> 8), uint8_t(len), next, 255}, src, dst, l4});
}

inline Bytes icmp6(uint8_t type, const Bytes& target = {}) {
  return cat({{type, 0, 0, 0, 0x20, 0, 0, 0}, target});
}

// An MLDv2 report behind a hop-by-hop header with a router alert, as a host
// sends from :: before its link-local address is usable.
inline Bytes mld2_from_unspecified() {
  Bytes hop{58, 0, 5, 2, 0, 0, 1, 0};
  return ipv6(kZero6, 0, cat({hop, {143, 0, 0, 0, 0, 0, 0, 0}}));
}

struct Case {
  std::string name;
  Bytes frame;
  int expected;  // AS_COUNT_PASSED or the drop reason
  bool drop_other_mode = false;  // decided with other-ethertypes drop
};

inline std::vector<Case> corpus() {
  const uint16_t kIp = 0x0800, kArp = 0x0806, kIp6 = 0x86dd, kOtherType = 0x88b5;
  return {
      {"legit-ipv4", eth(kOwnMac, kIp, ipv4(kAllowed4, udp(1000, 2000))), AS_COUNT_PASSED},
      {"legit-ipv6", eth(kOwnMac, kIp6, ipv6(kAllowed6, 17, udp(1000, 2000))), AS_COUNT_PASSED},
      {"legit-arp-request", eth(kOwnMac, kArp, arp(kOwnMac, kAllowed4, 1)), AS_COUNT_PASSED},
      {"legit-arp-reply", eth(kOwnMac, kArp, arp(kOwnMac, kAllowed4, 2)), AS_COUNT_PASSED},
      {"arp-probe", eth(kOwnMac, kArp, arp(kOwnMac, kZero4)), AS_COUNT_PASSED},
      {"dhcp-discover", eth(kOwnMac, kIp, ipv4(kZero4, udp(68, 67))), AS_COUNT_PASSED},
      {"dad-ns", eth(kOwnMac, kIp6, ipv6(kZero6, 58, icmp6(135, kAllowed6))), AS_COUNT_PASSED},
      {"mld-report-from-unspecified", eth(kOwnMac, kIp6, mld2_from_unspecified()), AS_COUNT_PASSED},
      {"link-local-ipv6", eth(kOwnMac, kIp6, ipv6(kLinkLocal6, 17, udp(1000, 2000))), AS_COUNT_PASSED},
      {"na-allowed-target", eth(kOwnMac, kIp6, ipv6(kLinkLocal6, 58, icmp6(136, kAllowed6))), AS_COUNT_PASSED},
      {"na-link-local-target", eth(kOwnMac, kIp6, ipv6(kLinkLocal6, 58, icmp6(136, kLinkLocal6))), AS_COUNT_PASSED},
      {"vlan-ipv4", eth(kOwnMac, kIp, ipv4(kAllowed4, udp(1000, 2000)), 5), AS_COUNT_PASSED},
      {"other-ethertype-allowed", eth(kOwnMac, kOtherType, Bytes(46, 0x42)), AS_COUNT_PASSED},
      {"bad-eth-source", eth(kOtherMac, kIp, ipv4(kAllowed4, udp(1000, 2000))), AS_COUNT_BAD_MAC},
      {"arp-bad-sha", eth(kOwnMac, kArp, arp(kOtherMac, kAllowed4)), AS_COUNT_BAD_ARP},
      {"arp-bad-spa", eth(kOwnMac, kArp, arp(kOwnMac, kOther4)), AS_COUNT_BAD_ARP},
      {"ipv4-bad-source", eth(kOwnMac, kIp, ipv4(kOther4, udp(1000, 2000))), AS_COUNT_BAD_IPV4},
      {"ipv4-unspecified-not-dhcp", eth(kOwnMac, kIp, ipv4(kZero4, udp(68, 68))), AS_COUNT_BAD_IPV4},
      {"vlan-ipv4-bad-source", eth(kOwnMac, kIp, ipv4(kOther4, udp(1000, 2000)), 5), AS_COUNT_BAD_IPV4},
      {"ipv6-bad-source", eth(kOwnMac, kIp6, ipv6(kOther6, 17, udp(1000, 2000))), AS_COUNT_BAD_IPV6},
      {"ipv6-unspecified-not-nd", eth(kOwnMac, kIp6, ipv6(kZero6, 17, udp(546, 547))), AS_COUNT_BAD_IPV6},
      {"na-bad-target", eth(kOwnMac, kIp6, ipv6(kLinkLocal6, 58, icmp6(136, kOther6))), AS_COUNT_BAD_NA},
      {"other-ethertype-dropped", eth(kOwnMac, kOtherType, Bytes(46, 0x42)), AS_COUNT_OTHER, true},
  };
}

}  // namespace vnet::spoof_corpus
