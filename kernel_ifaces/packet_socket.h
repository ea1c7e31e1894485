// packet_socket - an AF_PACKET socket on one device's host side: what the
// device receives (for a tap, what its guest sends), with the skb's offload
// state as a virtio-net header (PACKET_VNET_HDR) and the VLAN tag the kernel
// took off the frame as auxdata; frames sent on it leave through the device
// (for a tap, towards its guest).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::packet {

// The size of the virtio_net_hdr PACKET_VNET_HDR puts before every frame.
inline constexpr size_t kVnetHeaderSize = 10;

// Bound to ifindex for every protocol, non-blocking, its own sends not seen
// (PACKET_IGNORE_OUTGOING), with PACKET_VNET_HDR and PACKET_AUXDATA on and
// a receive buffer of receive_buffer bytes. Nothing is received before the
// options are set: the socket takes no protocol until it is bound.
Result<UniqueFd> open_host_side(int ifindex, int receive_buffer);

// The tag a frame carried when the kernel moved it into skb metadata
// (PACKET_AUXDATA's TP_STATUS_VLAN_VALID), from one control message.
struct VlanTag {
  uint16_t tpid = 0x8100;
  uint16_t tci = 0;
};
std::optional<VlanTag> vlan_tag_of(const void* control_message);

}  // namespace vnet::packet
