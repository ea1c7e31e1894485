// vnetctl's option parsing: QEMU's -netdev syntax typed by the schema.
#include <gtest/gtest.h>

#include "ctl/cli/option_parser.h"

namespace vnet::cli {
namespace {

using json = nlohmann::ordered_json;

json netdev(const std::string& text) {
  auto parsed = parse_netdev(text);
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : json();
}

TEST(NetdevOptions, TypesFollowTheSchema) {
  EXPECT_EQ(netdev("tap,id=t0,queues=4,vnet_hdr=off,sndbuf=1M,ifname=vt0,poll-us=0x10"),
            json::parse(R"({"type":"tap","id":"t0","queues":4,"vnet_hdr":false,"sndbuf":1048576,
                           "ifname":"vt0","poll-us":16})"));
  EXPECT_EQ(netdev("type=hubport,id=h,hubid=-3"), json::parse(R"({"type":"hubport","id":"h","hubid":-3})"));
  EXPECT_EQ(netdev("l2tpv3,id=l,src=1.2.3.4,dst=5.6.7.8,txsession=0x11223344,txcookie=0xAABBCCDD,udp=yes"),
            json::parse(R"({"type":"l2tpv3","id":"l","src":"1.2.3.4","dst":"5.6.7.8","txsession":287454020,
                           "txcookie":2864434397,"udp":true})"));
}

TEST(NetdevOptions, RepeatedKeysBuildStringLists) {
  EXPECT_EQ(netdev("user,id=u,hostfwd=tcp::2222-:22,hostfwd=udp::53-:53,dnssearch=example.org"),
            json::parse(R"({"type":"user","id":"u","hostfwd":[{"str":"tcp::2222-:22"},{"str":"udp::53-:53"}],
                           "dnssearch":[{"str":"example.org"}]})"));
}

TEST(NetdevOptions, DoubledCommaIsALiteralComma) {
  EXPECT_EQ(netdev("tap,id=t,script=/etc/a,,b"), json::parse(R"({"type":"tap","id":"t","script":"/etc/a,b"})"));
  EXPECT_EQ(split_options("a,,,b"), (std::vector<std::string>{"a,", "b"}));
}

TEST(NetdevOptions, UnknownKeysPassThroughForTheDaemonToRefuse) {
  EXPECT_EQ(netdev("tap,id=t,bogus=1"), json::parse(R"({"type":"tap","id":"t","bogus":"1"})"));
}

TEST(NetdevOptions, BadValuesNameKeyAndType) {
  EXPECT_EQ(parse_netdev("tap,id=t,queues=many").error().message,
            "option queues=many: expected a non-negative integer");
  EXPECT_FALSE(parse_netdev("tap,id=t,vhost=maybe"));
  EXPECT_FALSE(parse_netdev("tap,id=t,sndbuf=1Q"));
  EXPECT_FALSE(parse_netdev("id=t"));
  EXPECT_FALSE(parse_netdev("tap,id=t,noequals"));
}

TEST(Sizes, AsQemuStrtosz) {
  EXPECT_EQ(*parse_size("s", "4096"), 4096u);
  EXPECT_EQ(*parse_size("s", "64k"), 65536u);
  EXPECT_EQ(*parse_size("s", "1.5M"), 1572864u);
  EXPECT_EQ(*parse_size("s", "2G"), 2147483648u);
  EXPECT_EQ(*parse_size("s", "1E"), 1152921504606846976u);
  EXPECT_FALSE(parse_size("s", "1.5"));
  EXPECT_FALSE(parse_size("s", "-1"));
  EXPECT_FALSE(parse_size("s", "16E"));
}

TEST(Arguments, AnnounceParametersFromKeyValues) {
  auto args = parse_arguments({{"initial", "50"}, {"rounds", "3"}, {"interfaces", "n0,n1"}, {"id", "x"}},
                              command_arg_type("announce-self"));
  ASSERT_TRUE(args);
  EXPECT_EQ(*args, json::parse(R"({"initial":50,"rounds":3,"interfaces":["n0","n1"],"id":"x"})"));
}

// QMP carries text: bytes that are not UTF-8 are refused with the option's
// name, instead of vnetctl aborting when it writes the request (found by
// tests/fuzz/fuzz_netdev_option).
TEST(NetdevOptions, TextThatIsNotUtf8IsRefused) {
  auto ifname = parse_netdev("tap,id=t,ifname=fz\xff");
  ASSERT_FALSE(ifname);
  EXPECT_EQ(ifname.error().message, "option 'ifname': not valid UTF-8 (QMP carries text)");
  EXPECT_FALSE(parse_netdev("hubport,id=\xc3\x28,hubid=0"));
  EXPECT_FALSE(parse_netdev("tap\xff,id=t"));
  EXPECT_FALSE(parse_netdev("tap,id=t,\xffx=1"));
  EXPECT_FALSE(parse_arguments({{"interfaces", "n\xff"}}, command_arg_type("announce-self")));
  EXPECT_TRUE(parse_netdev("tap,id=t,ifname=f\xc3\xbc"));  // UTF-8 is fine
}

}  // namespace
}  // namespace vnet::cli
