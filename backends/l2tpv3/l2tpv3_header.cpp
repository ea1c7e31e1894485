#include "backends/l2tpv3/l2tpv3_header.h"

#include <cstring>

namespace vnet::l2tpv3 {

namespace {

constexpr uint32_t kUdpDataWord = 0x00030000;  // T=0 (data), version 3

void put32(uint8_t* at, uint32_t value) {
  for (int i = 0; i < 4; i++) at[i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}
void put64(uint8_t* at, uint64_t value) {
  put32(at, static_cast<uint32_t>(value >> 32));
  put32(at + 4, static_cast<uint32_t>(value));
}
uint32_t get32(const uint8_t* at) {
  return uint32_t{at[0]} << 24 | uint32_t{at[1]} << 16 | uint32_t{at[2]} << 8 | at[3];
}
uint64_t get64(const uint8_t* at) { return uint64_t{get32(at)} << 32 | get32(at + 4); }

size_t cookie_size(const Layout& layout) { return layout.cookie ? (layout.cookie64 ? 8 : 4) : 0; }

}  // namespace

size_t Layout::header_size() const {
  return (udp ? 4 : 0) + 4 + cookie_size(*this) + (counter ? 4 : 0) + offset;
}

size_t build_header(const Layout& layout, uint32_t sequence, std::span<uint8_t> out) {
  uint8_t* at = out.data();
  if (layout.udp) {
    put32(at, kUdpDataWord);
    at += 4;
  }
  put32(at, layout.tx_session);
  at += 4;
  if (layout.cookie) {
    if (layout.cookie64) put64(at, layout.tx_cookie);
    else put32(at, static_cast<uint32_t>(layout.tx_cookie));
    at += cookie_size(layout);
  }
  if (layout.counter) {
    put32(at, layout.pin_counter ? 0 : sequence);
    at += 4;
  }
  std::memset(at, 0, layout.offset);
  return layout.header_size();
}

Received parse_datagram(const Layout& layout, std::span<const uint8_t> datagram) {
  if (!layout.udp && !layout.ipv6) {
    // An IPv4 raw socket hands over the IP header too: skip it by its own
    // length (QEMU assumes 20 bytes, wrong with IP options).
    if (datagram.empty()) return {Verdict::too_short, {}};
    size_t ip_header = size_t{datagram[0] & 0x0fu} * 4;
    if (ip_header < 20 || datagram.size() < ip_header) return {Verdict::too_short, {}};
    datagram = datagram.subspan(ip_header);
  }
  size_t header = layout.header_size();
  // As QEMU: a datagram with no frame bytes after the header is dropped.
  if (datagram.size() <= header) return {Verdict::too_short, {}};
  const uint8_t* at = datagram.data() + (layout.udp ? 4 : 0);
  uint32_t session = get32(at);
  at += 4;
  // QEMU checks the cookie first, then the session; the data word of UDP
  // and the counter are not checked (RFC 3931 leaves the counter to the
  // receiver's choice).
  if (layout.cookie) {
    uint64_t cookie = layout.cookie64 ? get64(at) : get32(at);
    if (cookie != layout.rx_cookie) return {Verdict::bad_cookie, {}};
  }
  if (session != layout.rx_session) return {Verdict::bad_session, {}};
  return {Verdict::ok, datagram.subspan(header)};
}

}  // namespace vnet::l2tpv3
