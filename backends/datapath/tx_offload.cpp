#include "backends/datapath/tx_offload.h"

#include <algorithm>
#include <cstring>

#include "backends/datapath/ethernet.h"

namespace vnet::datapath {

namespace {

using namespace ethernet;
constexpr size_t kMaxTags = 2, kTcpMinHeader = 20;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;
constexpr size_t kMaxSegments = 1024;

uint32_t be32(std::span<const uint8_t> b, size_t at) { return uint32_t(be16(b, at)) << 16 | be16(b, at + 2); }
void put16(std::span<uint8_t> b, size_t at, uint16_t v) { b[at] = uint8_t(v >> 8), b[at + 1] = uint8_t(v); }
void put32(std::span<uint8_t> b, size_t at, uint32_t v) { put16(b, at, uint16_t(v >> 16)), put16(b, at + 2, uint16_t(v)); }

// Where a TCP frame's headers are, as parsed and checked against its length.
struct TcpLayout {
  size_t l3 = 0;       // the IP header
  size_t l4 = 0;       // the TCP header
  size_t headers = 0;  // every header: the payload starts here
  bool ipv6 = false;
};

std::string parse_tcp(std::span<const uint8_t> frame, bool want_ipv6, TcpLayout& out) {
  if (frame.size() < kEthHeader) return "a GSO frame shorter than an Ethernet header";
  size_t l3 = kEthHeader;
  uint16_t ethertype = be16(frame, 12);
  for (size_t tags = 0; (ethertype == kEthP8021Q || ethertype == kEthP8021AD) && tags < kMaxTags; tags++) {
    if (frame.size() < l3 + kVlanTag) return "a GSO frame cut short in its VLAN tag";
    ethertype = be16(frame, l3 + 2);
    l3 += kVlanTag;
  }
  size_t l4 = 0;
  if (!want_ipv6) {
    if (ethertype != kEthPIp) return "a TCPv4 GSO frame that is not IPv4";
    if (frame.size() < l3 + kIpv4MinHeader || frame[l3] >> 4 != 4) return "a TCPv4 GSO frame without an IPv4 header";
    size_t ip_header = size_t(frame[l3] & 0xf) * 4;
    if (ip_header < kIpv4MinHeader || frame.size() < l3 + ip_header) return "a TCPv4 GSO frame with a bad IHL";
    if (frame[l3 + 9] != kProtoTcp) return "a TCPv4 GSO frame that is not TCP";
    if (be16(frame, l3 + 6) & 0x3fff) return "a TCPv4 GSO frame that is a fragment";
    l4 = l3 + ip_header;
  } else {
    if (ethertype != kEthPIpv6) return "a TCPv6 GSO frame that is not IPv6";
    if (frame.size() < l3 + kIpv6Header || frame[l3] >> 4 != 6) return "a TCPv6 GSO frame without an IPv6 header";
    // Extension headers are not walked: Linux guests send TSO frames without them.
    if (frame[l3 + 6] != kProtoTcp) return "a TCPv6 GSO frame whose next header is not TCP";
    l4 = l3 + kIpv6Header;
  }
  if (frame.size() < l4 + kTcpMinHeader) return "a GSO frame cut short in its TCP header";
  size_t tcp_header = size_t(frame[l4 + 12] >> 4) * 4;
  if (tcp_header < kTcpMinHeader || frame.size() < l4 + tcp_header) return "a GSO frame with a bad TCP data offset";
  out = {l3, l4, l4 + tcp_header, want_ipv6};
  return "";
}

// The TCP checksum of a segment, from scratch: pseudo-header, header and payload.
uint16_t tcp_checksum(std::span<const uint8_t> segment, const TcpLayout& at) {
  size_t tcp_length = segment.size() - at.l4;
  uint64_t sum = at.ipv6 ? checksum_add(0, segment.subspan(at.l3 + 8, 32)) : checksum_add(0, segment.subspan(at.l3 + 12, 8));
  sum += kProtoTcp;
  sum += tcp_length;  // fits: a segment is under 64 KiB
  return checksum_finish(checksum_add(sum, segment.subspan(at.l4)));
}

std::string segment_tcp(const TxOffload& offload, std::span<const uint8_t> frame, const SegmentSink& sink) {
  const uint8_t type = offload.gso_type & ~kNetHdrGsoEcn;
  TcpLayout at;
  if (auto bad = parse_tcp(frame, type == kNetHdrGsoTcpv6, at); !bad.empty()) return bad;
  if (offload.gso_size == 0) return "a GSO frame with gso_size 0";
  const size_t payload = frame.size() - at.headers;
  // A tiny gso_size would turn one frame into tens of thousands; a real
  // guest's MSS (at least 88 bytes in Linux) stays far below this.
  if ((payload + offload.gso_size - 1) / offload.gso_size > kMaxSegments) {
    return "a GSO frame of " + std::to_string(payload) + " payload bytes in segments of " +
           std::to_string(offload.gso_size) + ": more than " + std::to_string(kMaxSegments) + " segments";
  }
  const uint32_t first_seq = be32(frame, at.l4 + 4);
  const uint16_t first_id = at.ipv6 ? 0 : be16(frame, at.l3 + 4);
  const uint8_t flags = frame[at.l4 + 13];
  size_t index = 0;
  // A frame whose payload fits one segment (or has none) is sent as one.
  for (size_t offset = 0; offset < payload || (payload == 0 && index == 0); index++) {
    const size_t part = std::min<size_t>(offload.gso_size, payload - offset);
    const bool last = offset + part >= payload;
    std::span<uint8_t> segment = sink.take(at.headers + part);
    std::memcpy(segment.data(), frame.data(), at.headers);
    std::memcpy(segment.data() + at.headers, frame.data() + at.headers + offset, part);
    if (at.ipv6) {
      put16(segment, at.l3 + 4, uint16_t(segment.size() - at.l3 - kIpv6Header));
    } else {
      put16(segment, at.l3 + 2, uint16_t(segment.size() - at.l3));
      put16(segment, at.l3 + 4, uint16_t(first_id + index));
      put16(segment, at.l3 + 10, 0);
      put16(segment, at.l3 + 10, checksum_finish(checksum_add(0, segment.subspan(at.l3, at.l4 - at.l3))));
    }
    put32(segment, at.l4 + 4, first_seq + uint32_t(offset));
    uint8_t segment_flags = flags;
    if (!last) segment_flags &= uint8_t(~(kTcpFin | kTcpPsh));
    if (index > 0) segment_flags &= uint8_t(~kTcpCwr);
    segment[at.l4 + 13] = segment_flags;
    put16(segment, at.l4 + 16, 0);
    put16(segment, at.l4 + 16, tcp_checksum(segment, at));
    sink.emit(segment);
    offset += part;
  }
  return "";
}

}  // namespace

uint64_t checksum_add(uint64_t sum, std::span<const uint8_t> bytes) {
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += uint32_t(bytes[i] << 8 | bytes[i + 1]);
  if (i < bytes.size()) sum += uint32_t(bytes[i] << 8);
  return sum;
}

uint16_t checksum_finish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

std::string complete_checksum(std::span<uint8_t> frame, uint16_t csum_start, uint16_t csum_offset) {
  if (size_t(csum_start) + csum_offset + 2 > frame.size()) {
    return "a checksum at " + std::to_string(csum_start) + "+" + std::to_string(csum_offset) + " past the frame's " +
           std::to_string(frame.size()) + " bytes";
  }
  // The field holds the pseudo-header's sum; the sum over it and the rest,
  // inverted, is the checksum (skb_checksum_help()).
  uint16_t value = checksum_finish(checksum_add(0, frame.subspan(csum_start)));
  put16(frame, size_t(csum_start) + csum_offset, value);
  return "";
}

std::string resolve_tx_offload(const TxOffload& offload, std::span<uint8_t> frame, const SegmentSink& sink) {
  const uint8_t type = offload.gso_type & ~kNetHdrGsoEcn;
  if (type == 0) {
    if (offload.flags & kNetHdrFNeedsCsum) {
      if (auto bad = complete_checksum(frame, offload.csum_start, offload.csum_offset); !bad.empty()) return bad;
    }
    sink.emit(frame);
    return "";
  }
  if (type != kNetHdrGsoTcpv4 && type != kNetHdrGsoTcpv6) {
    return "GSO type " + std::to_string(offload.gso_type) + ", which was not offered";
  }
  return segment_tcp(offload, frame, sink);
}

}  // namespace vnet::datapath
