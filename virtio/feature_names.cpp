#include "virtio/feature_names.h"

#include "virtio/net_header.h"

namespace vnet::virtio {
namespace {

const char* net_feature_name(unsigned bit) {
  switch (bit) {
    case kNetFCsum: return "CSUM";
    case kNetFGuestCsum: return "GUEST_CSUM";
    case kNetFCtrlGuestOffloads: return "CTRL_GUEST_OFFLOADS";
    case kNetFMtu: return "MTU";
    case kNetFMac: return "MAC";
    case kNetFGuestTso4: return "GUEST_TSO4";
    case kNetFGuestTso6: return "GUEST_TSO6";
    case kNetFGuestEcn: return "GUEST_ECN";
    case kNetFGuestUfo: return "GUEST_UFO";
    case kNetFHostTso4: return "HOST_TSO4";
    case kNetFHostTso6: return "HOST_TSO6";
    case kNetFHostEcn: return "HOST_ECN";
    case kNetFHostUfo: return "HOST_UFO";
    case kNetFMrgRxbuf: return "MRG_RXBUF";
    case kNetFStatus: return "STATUS";
    case kNetFCtrlVq: return "CTRL_VQ";
    case kNetFCtrlRx: return "CTRL_RX";
    case kNetFCtrlVlan: return "CTRL_VLAN";
    case kNetFCtrlRxExtra: return "CTRL_RX_EXTRA";
    case kNetFGuestAnnounce: return "GUEST_ANNOUNCE";
    case kNetFMq: return "MQ";
    case kNetFCtrlMacAddr: return "CTRL_MAC_ADDR";
    case kFNotifyOnEmpty: return "NOTIFY_ON_EMPTY";
    case kFAnyLayout: return "ANY_LAYOUT";
    case kNetFHashReport: return "HASH_REPORT";
    case kNetFRss: return "RSS";
    case kNetFRscExt: return "RSC_EXT";
    case kNetFStandby: return "STANDBY";
    case kNetFSpeedDuplex: return "SPEED_DUPLEX";
    default: return nullptr;
  }
}

const char* transport_feature_name(unsigned bit) {
  switch (bit) {
    case kRingFIndirectDesc: return "RING_INDIRECT_DESC";
    case kRingFEventIdx: return "RING_EVENT_IDX";
    case kFVersion1: return "VERSION_1";
    case kFAccessPlatform: return "ACCESS_PLATFORM";
    case kFRingPacked: return "RING_PACKED";
    case kFInOrder: return "IN_ORDER";
    case kFOrderPlatform: return "ORDER_PLATFORM";
    case kFSrIov: return "SR_IOV";
    case kFNotificationData: return "NOTIFICATION_DATA";
    default: return nullptr;
  }
}

}  // namespace

const char* feature_name(unsigned bit, bool network) {
  if (bit >= kTransportFFirst && bit <= kTransportFLast) return transport_feature_name(bit);
  return network ? net_feature_name(bit) : nullptr;
}

}  // namespace vnet::virtio
