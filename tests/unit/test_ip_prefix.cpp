// allowed-ips of set-anti-spoof: CIDR prefixes parsed strictly, refusals
// saying why.
#include <gtest/gtest.h>

#include "backends/nic/ip_prefix.h"

namespace vnet::nic {
namespace {

TEST(IpPrefix, ParsesV4AndV6WithAndWithoutLength) {
  auto v4 = parse_ip_prefix("10.0.0.5/32");
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_FALSE(v4->v6);
  EXPECT_EQ(v4->length, 32);
  EXPECT_EQ(v4->addr[0], 10);
  EXPECT_EQ(v4->addr[3], 5);
  EXPECT_EQ(format_ip_prefix(*v4), "10.0.0.5/32");

  auto net = parse_ip_prefix("192.168.0.0/16");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->length, 16);

  auto v6 = parse_ip_prefix("2001:db8::/64");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_TRUE(v6->v6);
  EXPECT_EQ(v6->length, 64);
  EXPECT_EQ(v6->addr[0], 0x20);
  EXPECT_EQ(v6->addr[3], 0xb8);
  EXPECT_EQ(format_ip_prefix(*v6), "2001:db8::/64");

  auto host = parse_ip_prefix("2001:db8::5");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->length, 128);
  auto host4 = parse_ip_prefix("10.1.2.3");
  ASSERT_TRUE(host4);
  EXPECT_EQ(host4->length, 32);
  auto all = parse_ip_prefix("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->length, 0);
}

TEST(IpPrefix, RefusesMalformedSayingWhy) {
  struct Bad {
    const char* text;
    const char* why;
  };
  for (auto [text, why] : {Bad{"10.0.0.256/32", "not an IPv4 address"}, Bad{"10.0.0/24", "not an IPv4 address"},
                           Bad{"", "not an IPv4 address"}, Bad{"10.0.0.5/33", "over 32"},
                           Bad{"2001:db8::/129", "over 128"}, Bad{"10.0.0.5/", "not a number"},
                           Bad{"10.0.0.5/-1", "not a number"}, Bad{"10.0.0.5/ 8", "not a number"},
                           Bad{"10.0.0.5/24", "bits are set past"}, Bad{"2001:db8::1/64", "bits are set past"},
                           Bad{"2001:db8:::1/128", "not an IPv6 address"}, Bad{"fe80::1%eth0", "not an IPv6"},
                           Bad{"10.0.0.5/32/1", "not a number"}, Bad{"ten.0.0.5", "not an IPv4"}}) {
    auto parsed = parse_ip_prefix(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message.find(why), std::string::npos) << text << ": " << parsed.error().message;
    EXPECT_NE(parsed.error().message.find(std::string("'") + text + "'"), std::string::npos);
  }
}

TEST(IpPrefix, ListNamesTheBadMember) {
  auto parsed = parse_ip_prefixes({"10.0.0.5/32", "2001:db8::/64", "bogus"}, "allowed-ips");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message.rfind("allowed-ips[2]: 'bogus'", 0), 0u) << parsed.error().message;
  auto good = parse_ip_prefixes({"10.0.0.5/32", "2001:db8::/64"}, "allowed-ips");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->size(), 2u);
}

}  // namespace
}  // namespace vnet::nic
