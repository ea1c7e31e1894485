// The QMP stream framing and the session's envelope rules, without sockets.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "backends/hubport/hub.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/json_framer.h"
#include "ctl/qmp/session.h"

namespace vnet::qmp {
namespace {

using json = nlohmann::ordered_json;

TEST(JsonFramer, FindsWholeTextsAcrossArbitrarySplits) {
  const std::string stream = R"({"execute":"a","arguments":{"s":"}{\"]"}} [1,2] {"x":[{}]})";
  for (size_t cut = 0; cut <= stream.size(); cut++) {
    JsonFramer framer;
    auto first = framer.feed(std::string_view(stream).substr(0, cut));
    auto second = framer.feed(std::string_view(stream).substr(cut));
    first.insert(first.end(), second.begin(), second.end());
    ASSERT_EQ(first.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(first[0].text, R"({"execute":"a","arguments":{"s":"}{\"]"}})");
    EXPECT_EQ(first[1].text, "[1,2]");
    EXPECT_EQ(first[2].text, R"({"x":[{}]})");
    EXPECT_TRUE(framer.idle());
  }
}

TEST(JsonFramer, RefusesTooDeepAndTooLargeThenRecovers) {
  JsonFramer framer;
  auto out = framer.feed(std::string(2000, '[') + std::string(2000, ']') + R"({"ok":1})");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].error.empty());
  EXPECT_EQ(out[1].text, R"({"ok":1})");

  std::string big = R"({"s":")" + std::string(JsonFramer::kMaxMessageBytes + 10, 'a') + R"("} {"ok":2})";
  out = framer.feed(big);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].error.empty());
  EXPECT_EQ(out[1].text, R"({"ok":2})");
}

TEST(JsonFramer, StrayClosingBracketIsAnError) {
  JsonFramer framer;
  auto out = framer.feed(R"(} {"a":1})");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].error.empty());
  EXPECT_EQ(out[1].text, R"({"a":1})");
}

struct NullSink : EventSink {
  std::vector<std::string> names;
  void emit(std::string_view name, json) override { names.emplace_back(name); }
};

class SessionTest : public ::testing::Test {
 protected:
  json ask(const std::string& text) {
    JsonFramer framer;
    auto framed = framer.feed(text);
    EXPECT_EQ(framed.size(), 1u);
    Reply reply = session.handle(framed.at(0));
    last_fds = std::move(reply.fds);
    return json::parse(reply.text);
  }
  std::string desc(const std::string& text) { return ask(text)["error"]["desc"].get<std::string>(); }

  HubSet hubs;  // these outlive the registry, whose backends use them
  TeardownQueue teardown;
  rtnl::Rtnl rtnl = std::move(rtnl::Rtnl::connect().value());
  bridge::BridgeAcl acl = bridge::BridgeAcl::parse("", "empty").value();
  DaemonResources resources{hubs, teardown, rtnl, acl};
  NetdevRegistry registry;
  NullSink events;
  std::unique_ptr<EventLoop> loop = std::move(EventLoop::create().value());
  Announcer announcer{*loop, registry};
  VnetdCommands commands{registry, resources, events, announcer};
  Session session{commands};
  std::vector<UniqueFd> last_fds;
};

TEST_F(SessionTest, NegotiationComesFirst) {
  auto r = ask(R"({"execute":"query-version","id":1})");
  EXPECT_EQ(r["error"]["class"], "CommandNotFound");
  EXPECT_EQ(r["error"]["desc"], "Expecting capabilities negotiation with 'qmp_capabilities'");
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(ask(R"({"execute":"qmp_capabilities"})"), json::parse(R"({"return":{}})"));
  EXPECT_EQ(desc(R"({"execute":"qmp_capabilities"})"), "Capabilities negotiation is already complete, command ignored");
}

TEST_F(SessionTest, EnvelopeErrorsAsQemu) {
  ask(R"({"execute":"qmp_capabilities"})");
  EXPECT_EQ(desc("[1]"), "QMP input must be a JSON object");
  EXPECT_EQ(desc(R"({"foo":1})"), "QMP input member 'foo' is unexpected");
  EXPECT_EQ(desc(R"({"execute":1})"), "QMP input member 'execute' must be a string");
  EXPECT_EQ(desc(R"({"execute":"x","arguments":[]})"), "QMP input member 'arguments' must be an object");
  EXPECT_EQ(desc(R"({"execute":"x","bar":1,"baz":2})"), "QMP input member 'baz' is unexpected");
  EXPECT_EQ(desc(R"({"arguments":{}})"), "QMP input lacks member 'execute'");
  EXPECT_EQ(desc(R"({"execute":"nosuch"})"), "The command nosuch has not been found");
  EXPECT_EQ(desc(R"({"execute":"query-version","arguments":{"x":1}})"), "Parameter 'x' is unexpected");
}

TEST_F(SessionTest, HubportsPeerOnceAndFailuresLeaveNothing) {
  ask(R"({"execute":"qmp_capabilities"})");
  EXPECT_EQ(ask(R"({"execute":"netdev_add","arguments":{"type":"hubport","id":"a","hubid":1}})"),
            json::parse(R"({"return":{}})"));
  EXPECT_EQ(ask(R"({"execute":"netdev_add","arguments":{"type":"hubport","id":"b","hubid":2,"netdev":"a"}})"),
            json::parse(R"({"return":{}})"));
  EXPECT_EQ(desc(R"({"execute":"netdev_add","arguments":{"type":"hubport","id":"c","hubid":2,"netdev":"a"}})"),
            "netdev 'a' is already connected to 'b'");
  // This fixture has no frame loop: a vde netdev cannot be built.
  EXPECT_EQ(desc(R"({"execute":"netdev_add","arguments":{"type":"vde","id":"t"}})"),
            "vde netdev: this vnetd runs without a userspace datapath");
  EXPECT_EQ(registry.all().size(), 2u);
  EXPECT_EQ(registry.find("a")->peer, "b");
  ask(R"({"execute":"netdev_del","arguments":{"id":"b"}})");
  EXPECT_EQ(registry.find("a")->peer, "");
  EXPECT_EQ(hubs.ports(2).size(), 0u);
  EXPECT_EQ(events.names, (std::vector<std::string>{"VNET_NETDEV_ADDED", "VNET_NETDEV_ADDED", "VNET_NETDEV_DELETED"}));
}

TEST_F(SessionTest, GetfdKeepsTheFdUnderItsName) {
  ask(R"({"execute":"qmp_capabilities"})");
  EXPECT_EQ(desc(R"({"execute":"getfd","arguments":{"fdname":"x"}})"), "No file descriptor supplied via SCM_RIGHTS");
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  UniqueFd write_end(pipe_fds[1]);
  std::vector<UniqueFd> received;
  received.emplace_back(pipe_fds[0]);
  session.set_received_fds(std::move(received));
  EXPECT_EQ(ask(R"({"execute":"getfd","arguments":{"fdname":"x"}})"), json::parse(R"({"return":{}})"));
  auto fd = session.take_named_fd("x");
  ASSERT_TRUE(fd);
  EXPECT_EQ(fd->get(), pipe_fds[0]);
  EXPECT_EQ(desc(R"({"execute":"closefd","arguments":{"fdname":"x"}})"), "File descriptor named 'x' not found");
}

// A state record's ifindex with a fraction or exponent is a member of the
// wrong type, as a string is (vnetd stops naming the file), not converted
// with undefined behaviour (found by tests/fuzz/fuzz_state).
TEST_F(SessionTest, ARestoredTapsIfindexMustBeAnInteger) {
  for (const char* ifindex : {"1e300", "7.5", "\"x\""}) {
    json record = json::parse(std::string(R"({"id":"t0","netdev":{"id":"t0","type":"tap"},"details":{"ifname":"t0","ifindex":)") +
                              ifindex + "}}");
    EXPECT_THROW((void)commands.restore_netdev(record), nlohmann::json::type_error) << ifindex;
  }
  EXPECT_TRUE(registry.all().empty());
}

TEST(IdWellformed, AsQemu) {
  EXPECT_TRUE(id_wellformed("a"));
  EXPECT_TRUE(id_wellformed("net0.a-b_c"));
  EXPECT_FALSE(id_wellformed(""));
  EXPECT_FALSE(id_wellformed("1a"));
  EXPECT_FALSE(id_wellformed("a b"));
  EXPECT_FALSE(id_wellformed("_a"));
}

}  // namespace
}  // namespace vnet::qmp

namespace vnet::qmp {
namespace {

TEST(JsonFramer, ControlCharacterResetsAnUnfinishedMessage) {
  JsonFramer framer;
  auto out = framer.feed(std::string("{\"execute\": \"query-version\"") + '\x01' + R"({"a":1})");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].error, std::string("JSON parse error, stray '\x01'"));
  EXPECT_EQ(out[1].text, R"({"a":1})");
  out = framer.feed(std::string(2000, '[') + '\x1b' + R"({"b":2})");
  ASSERT_EQ(out.size(), 3u);  // too deep, then the reset, then the message
  EXPECT_EQ(out[2].text, R"({"b":2})");
}

}  // namespace
}  // namespace vnet::qmp

namespace vnet::qmp {
namespace {

// The access layer in the request path: a refused request runs nothing.
TEST_F(SessionTest, AccessIsCheckedBeforeAnyCommandRuns) {
  auto rules = access::parse_access(
      "[[allow]]\nuid = 1000\ncommands = [\"query-*\"]\n"
      "[[allow]]\nuid = 1000\ncommands = [\"netdev_del\"]\nowned = true\n",
      "access.toml");
  ASSERT_TRUE(rules);
  access::AccessPolicy policy(std::move(*rules));
  policy.set_owner_lookup([this](const std::string& id) { return commands.netdev_owner(id); });
  ask(R"({"execute":"qmp_capabilities"})");
  ask(R"({"execute":"netdev_add","arguments":{"type":"hubport","id":"h0","hubid":1}})");

  Session vmm(commands, access::Peer{1000, 1000, 42}, policy);
  auto ask_as = [](Session& s, const std::string& text) {
    JsonFramer framer;
    return json::parse(s.handle(framer.feed(text).at(0)).text);
  };
  EXPECT_EQ(ask_as(vmm, R"({"execute":"qmp_capabilities"})"), json::parse(R"({"return":{}})"));
  EXPECT_EQ(ask_as(vmm, R"({"execute":"query-netdevs"})")["return"].size(), 1u);
  auto refused = ask_as(vmm, R"({"execute":"netdev_add","arguments":{"type":"hubport","id":"h1","hubid":1},"id":7})");
  EXPECT_EQ(refused["id"], 7);
  EXPECT_EQ(refused["error"], json::parse(R"j({"class":"GenericError","desc":"Permission denied: uid 1000 may not run )j"
                                          R"j(netdev_add (no rule allows it)"})j"));
  // h0 has no owner: the owned rule does not reach it.
  EXPECT_EQ(ask_as(vmm, R"({"execute":"netdev_del","arguments":{"id":"h0"}})")["error"]["desc"],
            "Permission denied: uid 1000 may not run netdev_del (its rule is for owned netdevs: 'h0' is not a netdev "
            "whose tap uid 1000 owns)");
  EXPECT_EQ(registry.all().size(), 1u);
  EXPECT_EQ(events.names, (std::vector<std::string>{"VNET_NETDEV_ADDED"}));

  // A peer no rule is for hears it before negotiation, for every command.
  Session stranger(commands, access::Peer{1001, 1001, 43}, policy);
  EXPECT_EQ(ask_as(stranger, R"({"execute":"qmp_capabilities"})")["error"]["desc"],
            "Permission denied: uid 1001 may not run qmp_capabilities (no access rule is for uid 1001 or gid 1001)");
  EXPECT_EQ(ask_as(stranger, R"({"execute":"query-version"})")["error"]["desc"],
            "Permission denied: uid 1001 may not run query-version (no access rule is for uid 1001 or gid 1001)");
}

}  // namespace
}  // namespace vnet::qmp
