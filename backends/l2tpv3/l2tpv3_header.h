// L2tpv3Header - the RFC 3931 data header as QEMU's net/l2tpv3.c lays it out:
//   [udp: 00 03 00 00] session(4) [cookie(4|8)] [counter(4)] [offset bytes]
// all big-endian; the offset bytes are zero here (QEMU sends whatever its
// buffer held). Built for sends, checked on receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vnet::l2tpv3 {

struct Layout {
  bool udp = false;
  bool ipv6 = false;
  bool cookie = false;
  bool cookie64 = false;
  bool counter = false;      // a counter word on the wire
  bool pin_counter = false;  // ... always 0
  uint32_t tx_session = 0, rx_session = 0;
  uint64_t tx_cookie = 0, rx_cookie = 0;
  uint32_t offset = 0;  // extra bytes after the header

  size_t header_size() const;
  // The largest header: udp word, session, 64-bit cookie, counter, offset 256.
  static constexpr size_t kMaxHeader = 4 + 4 + 8 + 4 + 256;
};

// Writes the header for the frame numbered `sequence` (1, 2, ...) into out
// (at least header_size() bytes); returns its size.
size_t build_header(const Layout& layout, uint32_t sequence, std::span<uint8_t> out);

enum class Verdict { ok, too_short, bad_session, bad_cookie };
struct Received {
  Verdict verdict;
  std::span<const uint8_t> frame;
};
// Checks a received datagram (for IPv4 IP encapsulation, as a raw socket
// gives it: behind its IP header) and finds the frame in it.
Received parse_datagram(const Layout& layout, std::span<const uint8_t> datagram);

}  // namespace vnet::l2tpv3
