// Test frames: Ethernet + IPv4 + UDP with a payload, one flow per queue, so
// that the tap steers each flow's replies to one queue (tun's flow table
// keys on the symmetric flow hash).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vnet::lab {

using Mac = std::array<uint8_t, 6>;

struct Endpoint {
  Mac mac;
  std::array<uint8_t, 4> ip;  // documentation ranges only (RFC 5737)
  uint16_t port;
};

// An Ethernet/IPv4/UDP frame from src to dst carrying payload, padded to
// at least 60 bytes.
std::vector<uint8_t> udp_frame(const Endpoint& src, const Endpoint& dst, const std::string& payload);

}  // namespace vnet::lab
