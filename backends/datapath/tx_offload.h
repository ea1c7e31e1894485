// tx_offload - what a guest's virtio-net header asks of the device for a
// frame it sent (virtio 1.2, 5.1.6.2), resolved for peers that take only
// whole frames with their checksums (a hub, slirp, a socket):
//   - VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum from csum_start to the end is
//     left for the device, as the kernel's skb_checksum_help() completes it;
//   - VIRTIO_NET_HDR_GSO_TCPV4 / TCPV6 (with or without the ECN bit): one TCP
//     frame of up to 64 KiB is cut into frames of gso_size payload bytes,
//     with the headers and checksums the kernel's tcp_gso_segment() gives.
// Everything is checked against the frame's length first: a header that asks
// for something the frame cannot hold is refused with the reason, and nothing
// is read or written outside the frame.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "virtio/net_header.h"

namespace vnet::datapath {

using virtio::kNetHdrFNeedsCsum;
using virtio::kNetHdrGsoEcn;
using virtio::kNetHdrGsoTcpv4;
using virtio::kNetHdrGsoTcpv6;

// The fields of a virtio_net_hdr that matter on transmit.
struct TxOffload {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};

// Where segments are built and where they go: `take` gives a buffer of the
// size asked for, which `emit` then receives filled (the peer may keep it
// until the batch ends, so each segment needs its own).
struct SegmentSink {
  std::function<std::span<uint8_t>(size_t size)> take;
  std::function<void(std::span<const uint8_t> frame)> emit;
};

// The ones'-complement sum of `bytes` as 16-bit big-endian words, added to
// `sum` and not folded (RFC 1071).
uint64_t checksum_add(uint64_t sum, std::span<const uint8_t> bytes);
// Folded to 16 bits and inverted: the value a checksum field holds.
uint16_t checksum_finish(uint64_t sum);

// Completes a partial checksum in place. "" or why the offsets do not fit the frame.
std::string complete_checksum(std::span<uint8_t> frame, uint16_t csum_start, uint16_t csum_offset);

// Resolves `offload` for `frame` (the guest's frame, which may be changed in
// place): a frame with nothing to do, or only a checksum, is emitted as it
// is, in `frame`'s own memory; a GSO frame as its segments, each in a buffer
// from sink.take. "" or why the frame was refused (nothing emitted then).
std::string resolve_tx_offload(const TxOffload& offload, std::span<uint8_t> frame, const SegmentSink& sink);

}  // namespace vnet::datapath
