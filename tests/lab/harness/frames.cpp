#include "tests/lab/harness/frames.h"

#include <algorithm>
#include <cstring>

namespace vnet::lab {

namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kIpv4Header = 20;
constexpr size_t kUdpHeader = 8;
constexpr size_t kEthMinFrame = 60;  // ETH_ZLEN
constexpr uint16_t kEthPIp = 0x0800;
constexpr uint8_t kIpProtoUdp = 17;

void put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

uint16_t ipv4_checksum(const uint8_t* header) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kIpv4Header; i += 2) sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

std::vector<uint8_t> udp_frame(const Endpoint& src, const Endpoint& dst, const std::string& payload) {
  size_t udp_len = kUdpHeader + payload.size();
  size_t ip_len = kIpv4Header + udp_len;
  std::vector<uint8_t> f(std::max(kEthHeader + ip_len, kEthMinFrame), 0);
  std::memcpy(&f[0], dst.mac.data(), 6);
  std::memcpy(&f[6], src.mac.data(), 6);
  put16(f, 12, kEthPIp);
  size_t ip = kEthHeader;
  f[ip] = 0x45;  // version 4, 5 words
  put16(f, ip + 2, static_cast<uint16_t>(ip_len));
  f[ip + 8] = 64;  // TTL
  f[ip + 9] = kIpProtoUdp;
  std::memcpy(&f[ip + 12], src.ip.data(), 4);
  std::memcpy(&f[ip + 16], dst.ip.data(), 4);
  put16(f, ip + 10, ipv4_checksum(&f[ip]));
  size_t udp = ip + kIpv4Header;
  put16(f, udp, src.port);
  put16(f, udp + 2, dst.port);
  put16(f, udp + 4, static_cast<uint16_t>(udp_len));  // checksum 0: none (RFC 768)
  std::memcpy(&f[udp + kUdpHeader], payload.data(), payload.size());
  return f;
}

}  // namespace vnet::lab
