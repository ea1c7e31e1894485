#include "backends/nic/announce_frames.h"

#include <arpa/inet.h>

#include <algorithm>

namespace vnet::nic {

namespace {

constexpr size_t kEthMinFrame = 60;      // ETH_ZLEN: shorter frames are padded
constexpr uint16_t kEthPRarp = 0x8035;   // ETH_P_RARP
constexpr uint16_t kEthPIp = 0x0800;     // ETH_P_IP, the protocol being resolved
constexpr uint16_t kArpHrdEther = 1;     // ARPHRD_ETHER
constexpr uint16_t kArpOpRequestReverse = 3;  // ARPOP_RREQUEST
constexpr uint16_t kArpOpRequest = 1;         // ARPOP_REQUEST
constexpr uint16_t kEthPArp = 0x0806;         // ETH_P_ARP
constexpr uint16_t kEthPIpv6 = 0x86dd;        // ETH_P_IPV6
constexpr uint8_t kIpprotoIcmpv6 = 58;
constexpr uint8_t kNdNeighborAdvert = 136;    // ND_NEIGHBOR_ADVERT
constexpr uint8_t kNdNaFlagOverride = 0x20;   // ND_NA_FLAG_OVERRIDE, first byte
constexpr uint8_t kNdOptTargetLinkaddr = 2;   // ND_OPT_TARGET_LINKADDR
// ff02::1, all nodes, and its Ethernet group 33:33:00:00:00:01.
constexpr std::array<uint8_t, 16> kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr ebpf::Mac kAllNodesMac = {0x33, 0x33, 0, 0, 0, 1};

void put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void put_mac(std::vector<uint8_t>& out, const ebpf::Mac& mac) { out.insert(out.end(), mac.begin(), mac.end()); }

void pad(std::vector<uint8_t>& frame) { frame.resize(std::max(frame.size(), kEthMinFrame), 0); }

// The Internet checksum (RFC 1071) of ICMPv6 with its IPv6 pseudo-header.
uint16_t icmpv6_checksum(const std::array<uint8_t, 16>& src, const std::array<uint8_t, 16>& dst,
                         const uint8_t* message, size_t length) {
  uint32_t sum = 0;
  auto add = [&sum](const uint8_t* data, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (data[i] << 8) | data[i + 1];
    if (n % 2) sum += data[n - 1] << 8;
  };
  add(src.data(), src.size());
  add(dst.data(), dst.size());
  sum += static_cast<uint32_t>(length);
  sum += kIpprotoIcmpv6;
  add(message, length);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

std::optional<IpAddress> parse_ip(const std::string& text) {
  IpAddress address;
  if (inet_pton(AF_INET, text.c_str(), address.bytes.data()) == 1) return address;
  address.v6 = true;
  if (inet_pton(AF_INET6, text.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::vector<uint8_t> garp_announce(const ebpf::Mac& mac, const IpAddress& ipv4) {
  std::vector<uint8_t> frame;
  frame.insert(frame.end(), 6, 0xff);
  put_mac(frame, mac);
  put16(frame, kEthPArp);
  put16(frame, kArpHrdEther);
  put16(frame, kEthPIp);
  frame.push_back(6);
  frame.push_back(4);
  put16(frame, kArpOpRequest);
  put_mac(frame, mac);
  frame.insert(frame.end(), ipv4.bytes.begin(), ipv4.bytes.begin() + 4);
  frame.insert(frame.end(), 6, 0);
  frame.insert(frame.end(), ipv4.bytes.begin(), ipv4.bytes.begin() + 4);
  pad(frame);
  return frame;
}

std::vector<uint8_t> na_announce(const ebpf::Mac& mac, const IpAddress& ipv6) {
  std::vector<uint8_t> icmp;
  icmp.push_back(kNdNeighborAdvert);
  icmp.push_back(0);              // code
  put16(icmp, 0);                 // checksum, filled in below
  icmp.push_back(kNdNaFlagOverride);
  icmp.insert(icmp.end(), 3, 0);  // the rest of the flags word
  icmp.insert(icmp.end(), ipv6.bytes.begin(), ipv6.bytes.end());
  icmp.push_back(kNdOptTargetLinkaddr);
  icmp.push_back(1);              // option length, in 8-byte units
  put_mac(icmp, mac);
  uint16_t checksum = icmpv6_checksum(ipv6.bytes, kAllNodes, icmp.data(), icmp.size());
  icmp[2] = static_cast<uint8_t>(checksum >> 8);
  icmp[3] = static_cast<uint8_t>(checksum);

  std::vector<uint8_t> frame;
  put_mac(frame, kAllNodesMac);
  put_mac(frame, mac);
  put16(frame, kEthPIpv6);
  frame.push_back(0x60);  // version 6, traffic class and flow label 0
  frame.insert(frame.end(), 3, 0);
  put16(frame, static_cast<uint16_t>(icmp.size()));
  frame.push_back(kIpprotoIcmpv6);
  frame.push_back(255);   // hop limit: receivers drop NAs with any other
  frame.insert(frame.end(), ipv6.bytes.begin(), ipv6.bytes.end());
  frame.insert(frame.end(), kAllNodes.begin(), kAllNodes.end());
  frame.insert(frame.end(), icmp.begin(), icmp.end());
  return frame;
}

std::vector<std::vector<uint8_t>> announce_frames(const ebpf::Mac& mac, const std::vector<IpAddress>& addresses) {
  std::vector<std::vector<uint8_t>> frames{rarp_announce(mac)};
  for (const auto& address : addresses) frames.push_back(address.v6 ? na_announce(mac, address) : garp_announce(mac, address));
  return frames;
}

std::vector<uint8_t> rarp_announce(const ebpf::Mac& mac) {
  std::vector<uint8_t> frame;
  frame.reserve(kEthMinFrame);
  frame.insert(frame.end(), 6, 0xff);  // broadcast
  put_mac(frame, mac);
  put16(frame, kEthPRarp);
  put16(frame, kArpHrdEther);
  put16(frame, kEthPIp);
  frame.push_back(6);  // hardware address length
  frame.push_back(4);  // protocol address length
  put16(frame, kArpOpRequestReverse);
  put_mac(frame, mac);
  frame.insert(frame.end(), 4, 0);  // sender IP
  put_mac(frame, mac);
  frame.insert(frame.end(), 4, 0);  // target IP
  pad(frame);
  return frame;
}

}  // namespace vnet::nic
