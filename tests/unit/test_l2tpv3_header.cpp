// l2tpv3's header as QEMU 7.2 puts it on the wire (shared/reference/qemu-7.2/
// l2tpv3-wire.txt) and the checks on received datagrams.
#include <gtest/gtest.h>

#include <vector>

#include "backends/l2tpv3/l2tpv3_backend.h"
#include "backends/l2tpv3/l2tpv3_header.h"

namespace vnet::l2tpv3 {
namespace {

std::vector<uint8_t> header_of(const Layout& layout, uint32_t sequence) {
  std::vector<uint8_t> out(Layout::kMaxHeader, 0xee);
  out.resize(build_header(layout, sequence, out));
  return out;
}

TEST(L2tpv3Header, AsQemusCapturedFrames) {
  Layout plain{.udp = true, .tx_session = 0x11223344, .rx_session = 0x55667788};
  EXPECT_EQ(header_of(plain, 1), (std::vector<uint8_t>{0, 3, 0, 0, 0x11, 0x22, 0x33, 0x44}));
  Layout counter = plain;
  counter.counter = true;
  EXPECT_EQ(header_of(counter, 2), (std::vector<uint8_t>{0, 3, 0, 0, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 2}));
  Layout cookie = plain;
  cookie.cookie = true;
  cookie.tx_cookie = 0xAABBCCDD;
  EXPECT_EQ(header_of(cookie, 1), (std::vector<uint8_t>{0, 3, 0, 0, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0xcc, 0xdd}));
  Layout all = counter;
  all.cookie = all.cookie64 = true;
  all.tx_cookie = 0x1122334455667788;
  all.offset = 2;
  EXPECT_EQ(header_of(all, 1), (std::vector<uint8_t>{0, 3, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x11, 0x22, 0x33, 0x44, 0x55,
                                                     0x66, 0x77, 0x88, 0, 0, 0, 1, 0, 0}))
      << "offset bytes are zero (QEMU's are not)";
  Layout pinned{.udp = true, .counter = true, .pin_counter = true, .tx_session = 7};
  EXPECT_EQ(header_of(pinned, 99), (std::vector<uint8_t>{0, 3, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0}));
  Layout ip{.tx_session = 5};
  EXPECT_EQ(header_of(ip, 1), (std::vector<uint8_t>{0, 0, 0, 5}));
}

TEST(L2tpv3Header, ReceivedDatagramsAreCheckedAsQemuDoes) {
  Layout layout{.udp = true, .cookie = true, .rx_session = 0x55667788, .rx_cookie = 0x01020304};
  std::vector<uint8_t> good{0, 3, 0, 0, 0x55, 0x66, 0x77, 0x88, 1, 2, 3, 4, 'f', 'r', 'a', 'm', 'e'};
  auto ok = parse_datagram(layout, good);
  ASSERT_EQ(ok.verdict, Verdict::ok);
  EXPECT_EQ(std::string(ok.frame.begin(), ok.frame.end()), "frame");
  auto bad_cookie = good;
  bad_cookie[11] = 5;
  EXPECT_EQ(parse_datagram(layout, bad_cookie).verdict, Verdict::bad_cookie);
  auto bad_session = good;
  bad_session[7] = 0;
  EXPECT_EQ(parse_datagram(layout, bad_session).verdict, Verdict::bad_session);
  EXPECT_EQ(parse_datagram(layout, std::span(good).first(12)).verdict, Verdict::too_short) << "header only";
  auto other_word = good;
  other_word[1] = 0;
  EXPECT_EQ(parse_datagram(layout, other_word).verdict, Verdict::ok) << "QEMU does not check the data word";
}

TEST(L2tpv3Header, Ipv4RawDatagramsSkipTheirIpHeaderByItsLength) {
  Layout layout{.rx_session = 9};
  std::vector<uint8_t> with_options(24, 0);
  with_options[0] = 0x46;  // IHL 6: 24 bytes
  for (int byte : {0, 0, 0, 9, int{'x'}}) with_options.push_back(static_cast<uint8_t>(byte));
  auto parsed = parse_datagram(layout, with_options);
  ASSERT_EQ(parsed.verdict, Verdict::ok);
  EXPECT_EQ(parsed.frame.size(), 1u);
  Layout v6 = layout;
  v6.ipv6 = true;  // an IPv6 raw socket gives no IP header
  EXPECT_EQ(parse_datagram(v6, std::vector<uint8_t>{0, 0, 0, 9, 'y'}).verdict, Verdict::ok);
}

TEST(L2tpv3Options, QemusChecksAndOurs) {
  qapi::NetdevL2TPv3Options options;
  options.src = options.dst = "127.0.0.1";
  options.txsession = 3;
  auto layout = plan_layout(options);
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->rx_session, 3u) << "rxsession defaults to txsession";
  options.offset = 257;
  EXPECT_EQ(plan_layout(options).error().message, "offset must be less than 256 bytes");
  options.offset = 256;
  EXPECT_TRUE(plan_layout(options));
  options.txcookie = 1;
  EXPECT_EQ(plan_layout(options).error().message, "require both 'rxcookie' and 'txcookie' or neither");
  options.rxcookie = uint64_t{1} << 32;
  EXPECT_FALSE(plan_layout(options)) << "a 32-bit cookie over 32 bits";
  options.cookie64 = false;
  EXPECT_FALSE(plan_layout(options)) << "cookie64=off means 32-bit cookies (QEMU: 64)";
  options.cookie64 = true;
  EXPECT_TRUE(plan_layout(options));
  options.udp = true;
  options.srcport = "1";
  EXPECT_EQ(plan_layout(options).error().message, "need both src and dst port for udp");
}

}  // namespace
}  // namespace vnet::l2tpv3
