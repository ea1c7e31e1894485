// The virtio-net device id, feature bits, status bits and frame header
// (virtio 1.2, 5.1.3 and 5.1.6), defined once here: <linux/virtio_net.h> is not valid
// C++ (a flexible array of arrays), and a device written in C++ needs them.
#pragma once

#include <cstdint>

namespace vnet::virtio {

inline constexpr uint32_t kIdNet = 1;  // VIRTIO_ID_NET: the device id of a network device

// Network device feature bits (VIRTIO_NET_F_*).
inline constexpr unsigned kNetFCsum = 0;        // the device completes partial checksums
inline constexpr unsigned kNetFGuestCsum = 1;
inline constexpr unsigned kNetFCtrlGuestOffloads = 2;
inline constexpr unsigned kNetFMtu = 3;
inline constexpr unsigned kNetFMac = 5;
inline constexpr unsigned kNetFGuestTso4 = 7;
inline constexpr unsigned kNetFGuestTso6 = 8;
inline constexpr unsigned kNetFGuestEcn = 9;
inline constexpr unsigned kNetFGuestUfo = 10;
inline constexpr unsigned kNetFHostTso4 = 11;   // ... and cuts TCPv4 GSO frames
inline constexpr unsigned kNetFHostTso6 = 12;   // ... and TCPv6 ones
inline constexpr unsigned kNetFHostEcn = 13;    // ... with the ECN bit (CWR kept on the first)
inline constexpr unsigned kNetFHostUfo = 14;
inline constexpr unsigned kNetFMrgRxbuf = 15;
inline constexpr unsigned kNetFStatus = 16;
inline constexpr unsigned kNetFCtrlVq = 17;
inline constexpr unsigned kNetFCtrlRx = 18;
inline constexpr unsigned kNetFCtrlVlan = 19;
inline constexpr unsigned kNetFCtrlRxExtra = 20;
inline constexpr unsigned kNetFGuestAnnounce = 21;
inline constexpr unsigned kNetFMq = 22;
inline constexpr unsigned kNetFCtrlMacAddr = 23;
inline constexpr unsigned kNetFHashReport = 57;
inline constexpr unsigned kNetFRss = 60;
inline constexpr unsigned kNetFRscExt = 61;
inline constexpr unsigned kNetFStandby = 62;
inline constexpr unsigned kNetFSpeedDuplex = 63;

// Transport and ring feature bits (VIRTIO_F_*, VIRTIO_RING_F_*), in the
// range VIRTIO_TRANSPORT_F_START..END.
inline constexpr unsigned kTransportFFirst = 28;
inline constexpr unsigned kTransportFLast = 41;
inline constexpr unsigned kFNotifyOnEmpty = 24;
inline constexpr unsigned kFAnyLayout = 27;
inline constexpr unsigned kRingFIndirectDesc = 28;
inline constexpr unsigned kRingFEventIdx = 29;
inline constexpr unsigned kFVersion1 = 32;
inline constexpr unsigned kFAccessPlatform = 33;
inline constexpr unsigned kFRingPacked = 34;
inline constexpr unsigned kFInOrder = 35;
inline constexpr unsigned kFOrderPlatform = 36;
inline constexpr unsigned kFSrIov = 37;
inline constexpr unsigned kFNotificationData = 38;

// The status field of the device's config space (VIRTIO_NET_S_*).
inline constexpr uint16_t kNetSLinkUp = 1;
inline constexpr uint16_t kNetSAnnounce = 2;

// The frame header's flags and GSO types (VIRTIO_NET_HDR_*).
inline constexpr uint8_t kNetHdrFNeedsCsum = 1;
inline constexpr uint8_t kNetHdrFDataValid = 2;  // the checksum was checked (receive side)
inline constexpr uint8_t kNetHdrGsoNone = 0;
inline constexpr uint8_t kNetHdrGsoTcpv4 = 1;
inline constexpr uint8_t kNetHdrGsoTcpv6 = 4;
inline constexpr uint8_t kNetHdrGsoEcn = 0x80;

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
