// The l2tpv3 data header decoder (RFC 3931 as QEMU lays it out). Input: a
// layout (flags, offset, sessions, cookies) then a received datagram. The
// frame found must lie inside the datagram, after the whole header; and a
// header built for the same layout, with the frame behind it, must decode
// back to that frame.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/l2tpv3/l2tpv3_header.h"
#include "tests/fuzz/fake_daemon.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vnet::l2tpv3;
  using vnet::fuzz::contract_broken;
  using vnet::fuzz::Input;
  Input in{data, size};
  uint8_t flags = in.take<uint8_t>();
  Layout layout;
  layout.udp = flags & 1;
  layout.ipv6 = flags & 2;
  layout.cookie = flags & 4;
  layout.cookie64 = flags & 8;
  layout.counter = flags & 16;
  layout.pin_counter = flags & 32;
  layout.offset = in.take<uint8_t>();  // QEMU's offset is at most 256 bytes
  layout.rx_session = layout.tx_session = in.take<uint32_t>();
  layout.rx_cookie = layout.tx_cookie = in.take<uint64_t>();
  if (!layout.cookie64) layout.rx_cookie = layout.tx_cookie &= 0xffffffffu;
  std::span<const uint8_t> datagram(in.data, in.size);

  Received received = parse_datagram(layout, datagram);
  if (received.verdict == Verdict::ok) {
    if (received.frame.empty() || received.frame.data() < datagram.data() ||
        received.frame.data() + received.frame.size() != datagram.data() + datagram.size() ||
        received.frame.size() + layout.header_size() > datagram.size()) {
      contract_broken("a frame outside the datagram or overlapping the header");
    }
  } else if (!received.frame.empty()) {
    contract_broken("a refused datagram with a frame");
  }

  // Round trip: what build_header() sends, parse_datagram() takes back.
  if (datagram.empty()) return 0;
  std::vector<uint8_t> sent(layout.udp || layout.ipv6 ? 0 : 20, 0);
  if (!sent.empty()) sent[0] = 0x45;  // an IPv4 header of 20 bytes, as a raw socket shows it
  size_t at = sent.size();
  sent.resize(at + Layout::kMaxHeader);
  size_t header = build_header(layout, in.take<uint32_t>(), std::span(sent).subspan(at));
  if (header != layout.header_size() || header > Layout::kMaxHeader) contract_broken("build_header's size");
  sent.resize(at + header);
  sent.insert(sent.end(), datagram.begin(), datagram.end());
  Received back = parse_datagram(layout, sent);
  if (back.verdict != Verdict::ok || back.frame.size() != datagram.size() ||
      std::memcmp(back.frame.data(), datagram.data(), datagram.size()) != 0) {
    contract_broken("a built header that does not decode back to its frame");
  }
  return 0;
}
