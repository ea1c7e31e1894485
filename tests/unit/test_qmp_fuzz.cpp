// Mutated QMP requests through the real session and commands: every input
// gets exactly one well-formed reply, nothing crashes, and deleting what was
// made leaves nothing. Runs in a private network namespace, since mutated
// requests may create taps and bridges.
#include <sched.h>

#include <random>

#include <gtest/gtest.h>

#include "backends/hubport/hub.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/session.h"

namespace vnet::qmp {
namespace {

using json = nlohmann::ordered_json;

const char* const kSeeds[] = {
    R"({"execute":"netdev_add","arguments":{"id":"h0","type":"hubport","hubid":0}})",
    R"({"execute":"netdev_add","arguments":{"id":"h1","type":"hubport","hubid":0,"netdev":"h0"}})",
    R"({"execute":"netdev_add","arguments":{"id":"t0","type":"tap","queues":2,"vnet_hdr":true,"sndbuf":1048576}})",
    R"({"execute":"netdev_add","arguments":{"id":"u0","type":"user","dnssearch":[{"str":"a"}],"hostfwd":[{"str":"tcp::1-:2"}]}})",
    R"({"execute":"netdev_add","arguments":{"id":"l0","type":"l2tpv3","src":"1","dst":"2","txsession":1,"txcookie":5}})",
    R"({"execute":"netdev_del","arguments":{"id":"h0"}})",
    R"({"execute":"set_link","arguments":{"name":"h1","up":false}})",
    R"({"execute":"query-rx-filter","arguments":{"name":"h1"}})",
    R"({"execute":"announce-self","arguments":{"initial":1,"max":2,"rounds":3,"step":4,"interfaces":["a"],"id":"x"}})",
    R"({"execute":"set-rx-filter","arguments":{"name":"n","promiscuous":true,"multicast":"normal","unicast":"all","vlan":"none","broadcast-allowed":true,"multicast-overflow":false,"unicast-overflow":false,"main-mac":"52:54:00:12:34:56","vlan-table":[1],"unicast-table":[],"multicast-table":[]}})",
    R"({"execute":"query-netdevs","id":[1,{"a":null}]})",
    R"({"execute":"netdev-get-fds","arguments":{"id":"t0"}})",
    R"({"execute":"getfd","arguments":{"fdname":"f"}})",
    R"({"execute":"query-qmp-schema"})",
};

const char* const kValues[] = {"null", "true", "-1", "0", "4294967296", "1.5", "\"\"", "\"tap\"",
                               "[]", "{}", "[{}]", "\"a b\"", "18446744073709551616", "\"hubport\""};

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string mutate(const std::string& text) {
    json doc = json::parse(text);
    switch (pick(4)) {
      case 0: return byte_noise(text);
      case 1: tweak(doc, 0); return doc.dump();
      case 2: return text.substr(0, pick(text.size()));  // cut short: must not hang the framer
      default: tweak(doc, 0); tweak(doc, 0); return doc.dump();
    }
  }

 private:
  size_t pick(size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng_) : 0; }

  std::string byte_noise(std::string text) {
    for (int i = 0, n = 1 + pick(4); i < n; i++) text[pick(text.size())] = static_cast<char>(pick(256));
    return text;
  }

  // Replaces, deletes or adds one member somewhere in the tree.
  void tweak(json& node, int depth) {
    if (node.is_object() && !node.empty()) {
      auto it = node.begin();
      std::advance(it, pick(node.size()));
      if ((it->is_object() || it->is_array()) && pick(2) && depth < 4) return tweak(*it, depth + 1);
      switch (pick(3)) {
        case 0: *it = json::parse(kValues[pick(std::size(kValues))]); break;
        case 1: node.erase(it.key()); break;
        default: node["x" + std::to_string(pick(3))] = json::parse(kValues[pick(std::size(kValues))]);
      }
    } else if (node.is_array() && !node.empty()) {
      tweak(node[pick(node.size())], depth + 1);
    }
  }

  std::mt19937 rng_;
};

TEST(QmpFuzz, EveryRequestGetsOneWellFormedReplyAndNothingIsLeft) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  HubSet hubs;
  TeardownQueue teardown;
  auto rtnl = rtnl::Rtnl::connect();
  ASSERT_TRUE(rtnl);
  auto acl = bridge::BridgeAcl::parse("allow all\n", "fuzz");
  DaemonResources resources{hubs, teardown, *rtnl, *acl};
  NetdevRegistry registry;
  struct : EventSink {
    void emit(std::string_view, json) override {}
  } events;
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  Announcer announcer(**loop, registry);
  VnetdCommands commands(registry, resources, events, announcer);
  Session session(commands);
  int replies = 0, successes = 0;

  // Each request on its own: a truncated one must not swallow the next.
  auto run = [&](const std::string& text) {
    JsonFramer framer;
    for (const auto& framed : framer.feed(text + "\n")) {
      replies++;
      Reply reply = session.handle(framed);
      ASSERT_FALSE(reply.text.empty());
      json answer = json::parse(reply.text, nullptr, false);
      ASSERT_FALSE(answer.is_discarded()) << reply.text;
      ASSERT_TRUE(answer.contains("return") || answer.contains("error")) << reply.text;
      if (answer.contains("return")) successes++;
    }
  };
  run(R"({"execute":"qmp_capabilities"})");
  Mutator mutator(20261125);
  for (int i = 0; i < 20000; i++) {
    run(mutator.mutate(kSeeds[i % std::size(kSeeds)]));
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(replies, 15000);  // most mutations reach the dispatcher
  EXPECT_GT(successes, 200);  // and some of them still do something (395 with this seed)
  std::vector<std::string> ids;
  for (const auto& entry : registry.all()) ids.push_back(entry->id);
  for (const auto& id : ids) run(R"({"execute":"netdev_del","arguments":{"id":")" + id + R"("}})");
  EXPECT_TRUE(registry.all().empty());
  EXPECT_TRUE(hubs.ports(0).empty());
}

}  // namespace
}  // namespace vnet::qmp
