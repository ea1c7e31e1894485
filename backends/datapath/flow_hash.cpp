#include "backends/datapath/flow_hash.h"

#include "backends/datapath/ethernet.h"

namespace vnet::datapath {

namespace {

using namespace ethernet;
constexpr uint8_t kProtoUdp = 17, kProtoUdpLite = 136, kProtoSctp = 132;

// FNV-1a over the flow's fields, then a finalizer (murmur3's fmix32) so
// that the low bits a queue count takes depend on every byte.
class FlowMix {
 public:
  void add(std::span<const uint8_t> bytes) {
    for (uint8_t b : bytes) state_ = (state_ ^ b) * 16777619u;
  }
  uint32_t done() const {
    uint32_t h = state_;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
  }

 private:
  uint32_t state_ = 2166136261u;
};

bool has_ports(uint8_t protocol) {
  return protocol == kProtoTcp || protocol == kProtoUdp || protocol == kProtoUdpLite || protocol == kProtoSctp;
}

}  // namespace

uint32_t flow_hash(std::span<const uint8_t> frame) {
  FlowMix mix;
  if (frame.size() < kEthHeader) {
    mix.add(frame);
    return mix.done();
  }
  size_t l3 = kEthHeader;
  uint16_t ethertype = be16(frame, 12);
  if ((ethertype == kEthP8021Q || ethertype == kEthP8021AD) && frame.size() >= l3 + kVlanTag) {
    ethertype = be16(frame, l3 + 2);
    l3 += kVlanTag;
  }
  auto l3_bytes = frame.subspan(l3);
  if (ethertype == kEthPIp && l3_bytes.size() >= kIpv4MinHeader && l3_bytes[0] >> 4 == 4) {
    size_t header = size_t(l3_bytes[0] & 0xf) * 4;
    uint8_t protocol = l3_bytes[9];
    mix.add(l3_bytes.subspan(9, 1));
    mix.add(l3_bytes.subspan(12, 8));  // source and destination
    bool fragment = (be16(l3_bytes, 6) & 0x3fff) != 0;  // MF or an offset
    if (header >= kIpv4MinHeader && !fragment && has_ports(protocol) && l3_bytes.size() >= header + 4) {
      mix.add(l3_bytes.subspan(header, 4));
    }
    return mix.done();
  }
  if (ethertype == kEthPIpv6 && l3_bytes.size() >= kIpv6Header && l3_bytes[0] >> 4 == 6) {
    uint8_t next = l3_bytes[6];
    mix.add(l3_bytes.subspan(6, 1));
    mix.add(l3_bytes.subspan(8, 32));  // source and destination
    // Extension headers are not walked: a transport right after the fixed
    // header gives its ports; anything else (a fragment header included)
    // hashes by addresses alone, which keeps a flow together either way.
    if (has_ports(next) && l3_bytes.size() >= kIpv6Header + 4) mix.add(l3_bytes.subspan(kIpv6Header, 4));
    return mix.done();
  }
  mix.add(frame.first(12));
  uint8_t type[2] = {uint8_t(ethertype >> 8), uint8_t(ethertype)};
  mix.add(type);
  return mix.done();
}

}  // namespace vnet::datapath
