// announce_frames - the frames a NIC sends to make switches and bridges learn
// where its MAC now lives (after a migration, a failover).
#pragma once

#include <cstdint>
#include <vector>

#include "ebpf/rx_filter_program.h"  // ebpf::Mac

namespace vnet::nic {

// QEMU's announce_self_create() (net/announce.c): a broadcast RARP "reverse
// request" (opcode 3) with sender and target hardware address = mac and both
// protocol addresses 0, zero-padded to the 60-byte Ethernet minimum.
std::vector<uint8_t> rarp_announce(const ebpf::Mac& mac);

}  // namespace vnet::nic
