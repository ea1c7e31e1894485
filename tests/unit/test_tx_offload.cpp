// resolve_tx_offload(): partial checksums completed, TSO frames cut into
// segments with the headers and checksums tcp_gso_segment() gives; headers
// that ask for more than the frame holds are refused.
#include "backends/datapath/tx_offload.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace vnet::datapath {
namespace {

using Bytes = std::vector<uint8_t>;

// An independent RFC 1071 check: the sum over a region that holds its own
// checksum folds to 0xffff.
uint32_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint32_t(sum);
}
uint64_t words(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += (i % 2 == 0) ? uint32_t(p[i]) << 8 : p[i];
  return sum;
}
bool ip_header_ok(const Bytes& f, size_t l3) { return fold(words(&f[l3], (f[l3] & 0xf) * 4u)) == 0xffff; }
bool l4_ok(const Bytes& f, size_t l3, size_t l4, uint8_t proto, bool v6) {
  uint64_t sum = v6 ? words(&f[l3 + 8], 32) : words(&f[l3 + 12], 8);
  sum += proto + (f.size() - l4) + words(&f[l4], f.size() - l4);
  return fold(sum) == 0xffff;
}
uint16_t get16(const Bytes& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }
uint32_t get32(const Bytes& b, size_t at) { return uint32_t(get16(b, at)) << 16 | get16(b, at + 2); }

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08, kFin = 0x01, kCwr = 0x80;

// Ethernet + IPv4 (or IPv6) + TCP with `payload` bytes 0, 1, 2...; checksums left as a guest leaves them
// for the device (the TCP field holding the pseudo-header's sum is not needed: segmenting recomputes it).
Bytes tcp_frame(bool v6, size_t payload, uint8_t flags = kAck | kPsh) {
  Bytes f{0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1};
  if (v6) {
    f.insert(f.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, 6, 64});
    for (int i = 0; i < 32; i++) f.push_back(i % 16 == 0 ? 0x20 : (i % 16 == 15 ? uint8_t(1 + i / 16) : 0));
  } else {
    f.insert(f.end(), {0x08, 0x00, 0x45, 0, 0, 0, 0x12, 0x30, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  }
  f.insert(f.end(), {0x9c, 0x40, 0x00, 0x50, 0x10, 0x00, 0x00, 0x00, 0, 0, 0, 7, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0});
  for (size_t i = 0; i < payload; i++) f.push_back(uint8_t(i));
  return f;
}

struct Collected {
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  std::vector<Bytes> frames;
  SegmentSink sink() {
    return {[this](size_t size) {
              storage.push_back(std::make_unique<uint8_t[]>(size));
              return std::span<uint8_t>(storage.back().get(), size);
            },
            [this](std::span<const uint8_t> out) { frames.emplace_back(out.begin(), out.end()); }};
  }
};

TEST(TxOffload, TsoV4FrameIsCutIntoSegmentsTheKernelWouldSend) {
  Bytes frame = tcp_frame(false, 3000, kAck | kPsh | kFin | kCwr);
  Collected out;
  TxOffload tso{kNetHdrFNeedsCsum, kNetHdrGsoTcpv4 | kNetHdrGsoEcn, 1448, 34, 16};
  ASSERT_EQ(resolve_tx_offload(tso, frame, out.sink()), "");
  ASSERT_EQ(out.frames.size(), 3u);  // 1448 + 1448 + 104
  Bytes joined;
  for (size_t i = 0; i < out.frames.size(); i++) {
    const Bytes& s = out.frames[i];
    size_t part = i < 2 ? 1448 : 104;
    ASSERT_EQ(s.size(), 54 + part) << i;
    EXPECT_EQ(get16(s, 16), 40 + part) << "IPv4 total length, segment " << i;
    EXPECT_EQ(get16(s, 18), 0x1230 + i) << "IPv4 id, segment " << i;
    EXPECT_TRUE(ip_header_ok(s, 14)) << i;
    EXPECT_TRUE(l4_ok(s, 14, 34, 6, false)) << "TCP checksum, segment " << i;
    EXPECT_EQ(get32(s, 38), 0x10000000u + 1448 * i) << "sequence, segment " << i;
    uint8_t flags = s[47];
    EXPECT_EQ(bool(flags & kFin), i == 2) << i;
    EXPECT_EQ(bool(flags & kPsh), i == 2) << i;
    EXPECT_EQ(bool(flags & kCwr), i == 0) << i;
    EXPECT_TRUE(flags & kAck) << i;
    joined.insert(joined.end(), s.begin() + 54, s.end());
  }
  EXPECT_EQ(joined, Bytes(frame.begin() + 54, frame.end()));
}

TEST(TxOffload, TsoV6FrameIsCutWithPayloadLengthsAndChecksums) {
  Bytes frame = tcp_frame(true, 2500);
  Collected out;
  ASSERT_EQ(resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv6, 1200, 54, 16}, frame, out.sink()), "");
  ASSERT_EQ(out.frames.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    const Bytes& s = out.frames[i];
    EXPECT_EQ(get16(s, 18), s.size() - 54) << "IPv6 payload length, segment " << i;
    EXPECT_TRUE(l4_ok(s, 14, 54, 6, true)) << i;
  }
}

TEST(TxOffload, PartialChecksumIsCompletedInPlace) {
  // UDP over IPv4 as a guest with VIRTIO_NET_F_CSUM sends it: the checksum
  // field holds the pseudo-header's sum (not inverted).
  Bytes f{0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00,
          0x45, 0, 0, 33, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
          0x04, 0x00, 0x00, 0x35, 0, 13, 0, 0, 'v', 'n', 'e', 't', 'd'};
  uint64_t pseudo = words(&f[26], 8) + 17 + 13;
  f[40] = uint8_t(fold(pseudo) >> 8), f[41] = uint8_t(fold(pseudo));
  Collected out;
  ASSERT_EQ(resolve_tx_offload({kNetHdrFNeedsCsum, 0, 0, 34, 6}, f, out.sink()), "");
  ASSERT_EQ(out.frames.size(), 1u);
  EXPECT_TRUE(l4_ok(out.frames[0], 14, 34, 17, false));
  EXPECT_TRUE(out.storage.empty()) << "a checksum alone needs no new buffer";
}

TEST(TxOffload, HeadersAskingForMoreThanTheFrameAreRefused) {
  Bytes tcp = tcp_frame(false, 100);
  Collected out;
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, 0, 0, 150, 16}, tcp, out.sink()), "");
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, 0, 0, 100, 60}, tcp, out.sink()), "");
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv6, 1448, 34, 16}, tcp, out.sink()), "");
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv4, 0, 34, 16}, tcp, out.sink()), "");
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, 3 /* UDP (UFO) */, 1448, 34, 6}, tcp, out.sink()), "");
  Bytes big = tcp_frame(false, 60000);
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv4, 8, 34, 16}, big, out.sink()), "")
      << "7,500 segments of 8 bytes";
  Bytes bad_offset = tcp;
  bad_offset[46] = 0xf0;  // a 60-byte TCP header in a frame with 100 bytes after the IP header... fits
  bad_offset.resize(70);  // ...not any more
  EXPECT_NE(resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv4, 1448, 34, 16}, bad_offset, out.sink()), "");
  // Every cut of a TSO frame: refused or segmented, never read past its end (ASan).
  size_t refused = 0;
  for (size_t size = 0; size < tcp.size(); size++) {
    Bytes cut(tcp.begin(), tcp.begin() + size);
    refused += !resolve_tx_offload({kNetHdrFNeedsCsum, kNetHdrGsoTcpv4, 40, 34, 16}, cut, out.sink()).empty();
  }
  EXPECT_EQ(refused, 54u) << "every cut short of the 54 bytes of headers, and none longer";
}

}  // namespace
}  // namespace vnet::datapath
