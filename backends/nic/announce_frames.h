// announce_frames - the frames a NIC sends to make switches and bridges learn
// where its MAC now lives (after a migration, a failover).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ebpf/rx_filter_program.h"  // ebpf::Mac

namespace vnet::nic {

// QEMU's announce_self_create() (net/announce.c): a broadcast RARP "reverse
// request" (opcode 3) with sender and target hardware address = mac and both
// protocol addresses 0, zero-padded to the 60-byte Ethernet minimum.
std::vector<uint8_t> rarp_announce(const ebpf::Mac& mac);

// An address the operator names for a NIC (set-announce-addresses).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // the first 4 for IPv4
};
std::optional<IpAddress> parse_ip(const std::string& text);

// RFC 5227's ARP announcement ("gratuitous ARP"): a broadcast ARP request with
// sender and target protocol address = ip, target hardware address 0.
std::vector<uint8_t> garp_announce(const ebpf::Mac& mac, const IpAddress& ipv4);

// RFC 4861 7.2.6's unsolicited neighbour advertisement: from ip to ff02::1,
// hop limit 255, Override set, with a target link-layer address option.
std::vector<uint8_t> na_announce(const ebpf::Mac& mac, const IpAddress& ipv6);

// What one announce round sends for a NIC: the RARP, then one frame per address.
std::vector<std::vector<uint8_t>> announce_frames(const ebpf::Mac& mac, const std::vector<IpAddress>& addresses);

}  // namespace vnet::nic
