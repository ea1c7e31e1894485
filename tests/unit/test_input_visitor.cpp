// The schema layer refuses bad arguments with QEMU 7.2's exact texts.
// Expected texts were read from qemu-system-x86_64 7.2 (Debian) over QMP.
#include <gtest/gtest.h>

#include "ctl/qapi/qemu_dict_order.h"
#include "qapi_commands.h"
#include "qapi_visit.h"

namespace vnet::qapi {
namespace {

using json = nlohmann::ordered_json;

// Decodes a netdev_add argument object; returns "" on success or the desc.
std::string netdev_error(const std::string& args_text, Netdev* out = nullptr) {
  json args = json::parse(args_text);
  InputVisitor v(args);
  Netdev netdev;
  bool ok = v.start_struct(nullptr);
  if (ok) {
    ok = visit_type_Netdev_members(v, netdev) && v.check_struct();
    v.end_struct();
  }
  if (!ok) return v.take_error().desc;
  if (out) *out = netdev;
  return "";
}

TEST(InputVisitor, MissingMembers) {
  EXPECT_EQ(netdev_error(R"({})"), "Parameter 'id' is missing");
  EXPECT_EQ(netdev_error(R"({"id":"a"})"), "Parameter 'type' is missing");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"l2tpv3","src":"x","dst":"y"})"), "Parameter 'txsession' is missing");
}

TEST(InputVisitor, WrongJsonTypes) {
  EXPECT_EQ(netdev_error(R"({"id":5,"type":"tap"})"), "Invalid parameter type for 'id', expected: string");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":5})"), "Invalid parameter type for 'type', expected: string");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","vhost":"on"})"),
            "Invalid parameter type for 'vhost', expected: boolean");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","ifname":null})"),
            "Invalid parameter type for 'ifname', expected: string");
}

TEST(InputVisitor, Integers) {
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","queues":"x"})"), "Parameter 'queues' expects uint64");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","queues":-1})"), "Parameter 'queues' expects uint32_t");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","queues":1.5})"), "Parameter 'queues' expects uint64");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","queues":4294967296})"), "Parameter 'queues' expects uint32_t");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","sndbuf":"1M"})"), "Parameter 'sndbuf' expects uint64");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"hubport","hubid":"0"})"),
            "Invalid parameter type for 'hubid', expected: integer");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"hubport","hubid":2147483648})"), "Parameter 'hubid' expects int32_t");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"hubport","hubid":1.0})"),
            "Invalid parameter type for 'hubid', expected: integer");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"l2tpv3","src":"1","dst":"2","txsession":1,"txcookie":18446744073709551616})"),
            "Parameter 'txcookie' expects uint64");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"vde","port":65536})"), "Parameter 'port' expects uint16_t");
}

TEST(InputVisitor, NegativeUint64WrapsAsInQemu) {
  Netdev netdev;
  ASSERT_EQ(netdev_error(R"({"id":"a","type":"tap","sndbuf":-1})", &netdev), "");
  EXPECT_EQ(std::get<NetdevTapOptions>(netdev.u).sndbuf, UINT64_MAX);
}

TEST(InputVisitor, EnumValues) {
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"foo"})"), "Parameter 'type' does not accept value 'foo'");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"stream"})"), "Parameter 'type' does not accept value 'stream'");
}

TEST(InputVisitor, ListsOfStringNameTheirPath) {
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"user","dnssearch":"x"})"),
            "Invalid parameter type for 'dnssearch', expected: array");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"user","dnssearch":["x"]})"),
            "Invalid parameter type for 'dnssearch[0]', expected: object");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"user","dnssearch":[{"str":"a"},{"str":1}]})"),
            "Invalid parameter type for 'dnssearch[1].str', expected: string");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"user","dnssearch":[{"s":"x"}]})"), "Parameter 'dnssearch[0].str' is missing");
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"user","dnssearch":[{"str":"x","y":1}]})"),
            "Parameter 'dnssearch[0].y' is unexpected");
}

TEST(InputVisitor, UnexpectedMemberInQemuHashOrder) {
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","sndbuf":-1,"foo":1})"), "Parameter 'foo' is unexpected");
  // QEMU names 'zzz' here, not the first or last written.
  EXPECT_EQ(netdev_error(R"({"id":"a","type":"tap","zzz":1,"aaa":2,"foo":3})"), "Parameter 'zzz' is unexpected");
}

TEST(InputVisitor, DecodesEveryMemberKind) {
  Netdev netdev;
  ASSERT_EQ(netdev_error(R"({"id":"u0","type":"user","hostname":"h","restrict":true,"ipv6-prefixlen":64,
                             "hostfwd":[{"str":"tcp::2222-:22"},{"str":"udp::53-:53"}]})",
                         &netdev),
            "");
  EXPECT_EQ(netdev.id, "u0");
  EXPECT_EQ(netdev.type, NetClientDriver::user);
  const auto& user = std::get<NetdevUserOptions>(netdev.u);
  EXPECT_EQ(user.hostname, "h");
  EXPECT_EQ(user.restrict, true);
  EXPECT_EQ(user.ipv6_prefixlen, 64);
  ASSERT_TRUE(user.hostfwd);
  ASSERT_EQ(user.hostfwd->size(), 2u);
  EXPECT_EQ((*user.hostfwd)[1].str, "udp::53-:53");
  EXPECT_FALSE(user.dns);
}

TEST(QemuDictOrder, TopLevelOrderAsQemu) {
  // QEMU answered "QMP input member 'baz' is unexpected" for {"execute":"x","bar":1,"baz":2}.
  auto order = qdict_order({"execute", "bar", "baz"});
  auto bar = std::find(order.begin(), order.end(), "bar");
  auto baz = std::find(order.begin(), order.end(), "baz");
  EXPECT_LT(baz, bar);
}

TEST(GHashStringSet, SurvivesGrowthAndRemoval) {
  GHashStringSet set;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; i++) keys.push_back("member-" + std::to_string(i));
  for (const auto& k : keys) set.insert(k);
  for (int i = 0; i < 40; i += 2) set.remove(keys[i]);
  auto left = set.iteration_order();
  ASSERT_EQ(left.size(), 20u);
  std::sort(left.begin(), left.end());
  std::vector<std::string> expected;
  for (int i = 1; i < 40; i += 2) expected.push_back(keys[i]);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

TEST(Commands, EverySeedCommandIsKnown) {
  for (const char* name : {"set_link", "netdev_add", "netdev_del", "query-rx-filter", "announce-self", "getfd",
                           "closefd", "query-commands", "query-version", "query-qmp-schema", "query-netdevs",
                           "netdev-get-fds", "set-rx-filter", "qmp_capabilities"}) {
    EXPECT_NE(find_command(name), nullptr) << name;
  }
}

}  // namespace
}  // namespace vnet::qapi
