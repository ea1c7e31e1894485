// The virtio-net feature bits and frame header a device side uses (virtio
// 1.2, 5.1.3 and 5.1.6), defined once here: <linux/virtio_net.h> is not valid
// C++ (a flexible array of arrays), and a device written in C++ needs them.
#pragma once

#include <cstdint>

namespace vnet::virtio {

inline constexpr unsigned kNetFCsum = 0;        // VIRTIO_NET_F_CSUM: the device completes partial checksums
inline constexpr unsigned kNetFHostTso4 = 11;   // VIRTIO_NET_F_HOST_TSO4: ... and cuts TCPv4 GSO frames
inline constexpr unsigned kNetFHostTso6 = 12;   // VIRTIO_NET_F_HOST_TSO6: ... and TCPv6 ones
inline constexpr unsigned kNetFHostEcn = 13;    // VIRTIO_NET_F_HOST_ECN: ... with the ECN bit (CWR kept on the first)
inline constexpr unsigned kNetFMrgRxbuf = 15;   // VIRTIO_NET_F_MRG_RXBUF
inline constexpr unsigned kNetFMq = 22;         // VIRTIO_NET_F_MQ
inline constexpr unsigned kRingFIndirectDesc = 28;  // VIRTIO_RING_F_INDIRECT_DESC
inline constexpr unsigned kRingFEventIdx = 29;      // VIRTIO_RING_F_EVENT_IDX
inline constexpr unsigned kFVersion1 = 32;      // VIRTIO_F_VERSION_1

inline constexpr uint8_t kNetHdrGsoNone = 0;  // VIRTIO_NET_HDR_GSO_NONE

// struct virtio_net_hdr_mrg_rxbuf: the header in front of every frame on a
// ring; without VERSION_1 or MRG_RXBUF the last field is not there (10 bytes).
struct NetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(NetHeader) == 12);
inline constexpr unsigned kNetHeaderLegacySize = 10;

}  // namespace vnet::virtio
