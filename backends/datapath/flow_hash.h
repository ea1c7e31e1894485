// flow_hash() - which flow an Ethernet frame belongs to, as a 32-bit hash:
// the frames of one flow hash alike, so a device that spreads frames over
// queues by it keeps each flow's frames in order (as tun's queue selection
// and virtio-net's multiqueue expect, virtio 1.2, 5.1.6.5.5).
//
// The flow is what the Linux flow dissector takes by default: for IPv4 and
// IPv6, the addresses, the protocol and (for TCP, UDP, UDP-Lite and SCTP)
// the ports; a fragment's ports are not looked at, so that every fragment of
// a datagram, the first included, hashes alike. One 802.1Q or 802.1ad tag is
// looked through. Anything else hashes by its MAC addresses and ethertype.
#pragma once

#include <cstdint>
#include <span>

namespace vnet::datapath {

uint32_t flow_hash(std::span<const uint8_t> frame);

}  // namespace vnet::datapath
