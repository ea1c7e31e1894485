// ethernet - the frame-header constants and big-endian reads the datapath's
// frame parsers share (flow_hash, tx_offload), named as in the kernel UAPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vnet::datapath::ethernet {

inline constexpr uint16_t kEthPIp = 0x0800;    // ETH_P_IP
inline constexpr uint16_t kEthPIpv6 = 0x86dd;  // ETH_P_IPV6
inline constexpr uint16_t kEthP8021Q = 0x8100;   // ETH_P_8021Q
inline constexpr uint16_t kEthP8021AD = 0x88a8;  // ETH_P_8021AD
inline constexpr size_t kEthHeader = 14, kVlanTag = 4, kIpv4MinHeader = 20, kIpv6Header = 40;
inline constexpr uint8_t kProtoTcp = 6;

inline uint16_t be16(std::span<const uint8_t> bytes, size_t at) { return uint16_t(bytes[at] << 8 | bytes[at + 1]); }

}  // namespace vnet::datapath::ethernet
