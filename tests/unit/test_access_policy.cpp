// The access layer's decisions: root always, others only by a rule for their
// uid or primary gid; owned rules only on netdevs whose tap the peer owns.
#include <gtest/gtest.h>

#include <map>

#include "ctl/access/access_policy.h"

namespace vnet::access {
namespace {

using json = nlohmann::ordered_json;

const Peer kRoot{0, 0, 1};
const Peer kVmm{1000, 1000, 2};
const Peer kOther{1001, 1001, 3};
const Peer kKvmGroup{1002, 4242, 4};

AccessPolicy policy_of(const std::string& text, std::map<std::string, uint32_t> owners = {}) {
  auto rules = parse_access(text, "access.toml");
  EXPECT_TRUE(rules) << rules.error().message;
  AccessPolicy policy(rules ? std::move(*rules) : std::vector<AccessRule>{});
  policy.set_owner_lookup([owners](const std::string& id) -> std::optional<uint32_t> {
    auto it = owners.find(id);
    if (it == owners.end()) return std::nullopt;
    return it->second;
  });
  return policy;
}

const char* kVmmRules =
    "[[allow]]\nuid = 1000\ncommands = [\"query-*\"]\n"
    "[[allow]]\nuid = 1000\ncommands = [\"netdev-get-fds\", \"set_link\", \"announce-self\"]\nowned = true\n"
    "[[allow]]\ngid = 4242\ncommands = [\"netdev_add\"]\n";

TEST(AccessPolicy, WithoutRulesOnlyRoot) {
  const AccessPolicy& policy = AccessPolicy::root_only();
  EXPECT_TRUE(policy.admits(kRoot));
  EXPECT_FALSE(policy.refusal(kRoot, "netdev_add", json::object()));
  EXPECT_FALSE(policy.admits(kVmm));
  EXPECT_EQ(policy.refusal(kVmm, "qmp_capabilities", json::object()),
            "Permission denied: uid 1000 may not run qmp_capabilities (vnetd has no access rules: only root may use "
            "this socket)");
}

TEST(AccessPolicy, RootMayDoEverythingWhateverTheRules) {
  AccessPolicy policy = policy_of(kVmmRules);
  for (const char* command : {"netdev_add", "netdev_del", "getfd", "vmm-attach", "qmp_capabilities"}) {
    EXPECT_FALSE(policy.refusal(kRoot, command, json::object())) << command;
  }
}

TEST(AccessPolicy, APeerNoRuleIsForIsRefusedEverything) {
  AccessPolicy policy = policy_of(kVmmRules);
  EXPECT_FALSE(policy.admits(kOther));
  EXPECT_EQ(policy.refusal(kOther, "qmp_capabilities", json::object()),
            "Permission denied: uid 1001 may not run qmp_capabilities (no access rule is for uid 1001 or gid 1001)");
  EXPECT_TRUE(policy.refusal(kOther, "query-netdevs", json::object()));
}

TEST(AccessPolicy, NamesAndPrefixesAllowAndNothingElse) {
  AccessPolicy policy = policy_of(kVmmRules);
  EXPECT_TRUE(policy.admits(kVmm));
  EXPECT_FALSE(policy.refusal(kVmm, "qmp_capabilities", json::object()));
  EXPECT_FALSE(policy.refusal(kVmm, "query-netdevs", json::object()));
  EXPECT_FALSE(policy.refusal(kVmm, "query-version", json::object()));
  EXPECT_EQ(policy.refusal(kVmm, "netdev_add", json{{"type", "tap"}, {"id", "t0"}}),
            "Permission denied: uid 1000 may not run netdev_add (no rule allows it)");
  EXPECT_EQ(policy.refusal(kVmm, "getfd", json::object()),
            "Permission denied: uid 1000 may not run getfd (no rule allows it)");
}

TEST(AccessPolicy, AGidRuleIsForThePeersPrimaryGroup) {
  AccessPolicy policy = policy_of(kVmmRules);
  EXPECT_FALSE(policy.refusal(kKvmGroup, "netdev_add", json{{"type", "hubport"}}));
  EXPECT_EQ(policy.refusal(kKvmGroup, "netdev_del", json{{"id", "h0"}}),
            "Permission denied: uid 1002 may not run netdev_del (no rule allows it)");
  // Same uid as the VMM's rule does not matter to a gid rule, nor the reverse.
  EXPECT_TRUE(policy.refusal(Peer{1000, 4243, 5}, "netdev_add", json::object()));
  EXPECT_FALSE(policy.refusal(Peer{1000, 4243, 5}, "query-netdevs", json::object()));
}

TEST(AccessPolicy, OwnedRulesAllowOnlyOnOwnedNetdevs) {
  AccessPolicy policy = policy_of(kVmmRules, {{"t-mine", 1000}, {"t-theirs", 1001}, {"nic-mine", 1000}});
  EXPECT_FALSE(policy.refusal(kVmm, "netdev-get-fds", json{{"id", "t-mine"}}));
  EXPECT_FALSE(policy.refusal(kVmm, "set_link", json{{"name", "nic-mine"}, {"up", false}}));
  EXPECT_EQ(policy.refusal(kVmm, "netdev-get-fds", json{{"id", "t-theirs"}}),
            "Permission denied: uid 1000 may not run netdev-get-fds (its rule is for owned netdevs: 't-theirs' is not "
            "a netdev whose tap uid 1000 owns)");
  // One that does not exist is refused the same way (no probing for names).
  EXPECT_EQ(policy.refusal(kVmm, "netdev-get-fds", json{{"id", "nothere"}}),
            "Permission denied: uid 1000 may not run netdev-get-fds (its rule is for owned netdevs: 'nothere' is not "
            "a netdev whose tap uid 1000 owns)");
  // The uid 1001 owner has no rule at all.
  EXPECT_TRUE(policy.refusal(kOther, "netdev-get-fds", json{{"id", "t-theirs"}}));
}

TEST(AccessPolicy, OwnedRulesNeedTheRequestToNameItsNetdevs) {
  AccessPolicy policy = policy_of(kVmmRules, {{"t-mine", 1000}, {"t-theirs", 1001}});
  EXPECT_EQ(policy.refusal(kVmm, "netdev-get-fds", json::object()),
            "Permission denied: uid 1000 may not run netdev-get-fds (its rule is for owned netdevs, and this request "
            "names none)");
  EXPECT_TRUE(policy.refusal(kVmm, "netdev-get-fds", json{{"id", 5}}));
  // announce-self: every interface named must be owned; none named means all.
  EXPECT_FALSE(policy.refusal(kVmm, "announce-self", json{{"interfaces", {"t-mine"}}}));
  EXPECT_EQ(policy.refusal(kVmm, "announce-self", json{{"interfaces", {"t-mine", "t-theirs"}}}),
            "Permission denied: uid 1000 may not run announce-self (its rule is for owned netdevs: 't-mine', "
            "'t-theirs' are not all netdevs whose tap uid 1000 owns)");
  EXPECT_TRUE(policy.refusal(kVmm, "announce-self", json::object()));
  EXPECT_TRUE(policy.refusal(kVmm, "announce-self", json{{"interfaces", json::array()}}));
}

TEST(AccessPolicy, TheTargetTable) {
  EXPECT_EQ(request_targets("netdev_del", json{{"id", "a"}}), std::vector<std::string>{"a"});
  EXPECT_EQ(request_targets("netdev-get-fds", json{{"id", "a"}}), std::vector<std::string>{"a"});
  EXPECT_EQ(request_targets("set_link", json{{"name", "a"}, {"up", true}}), std::vector<std::string>{"a"});
  EXPECT_EQ(request_targets("set-rx-filter", json{{"name", "n"}}), std::vector<std::string>{"n"});
  EXPECT_EQ(request_targets("query-rx-filter", json{{"name", "n"}}), std::vector<std::string>{"n"});
  EXPECT_FALSE(request_targets("query-rx-filter", json::object()));
  EXPECT_EQ(request_targets("vmm-attach", json{{"nic", "n"}, {"qmp", "/x"}}), std::vector<std::string>{"n"});
  EXPECT_FALSE(request_targets("netdev_add", json{{"id", "a"}, {"type", "tap"}}));
  EXPECT_FALSE(request_targets("query-netdevs", json::object()));
  EXPECT_EQ(request_targets("query-netdevs", json{{"id", "a"}}), std::vector<std::string>{"a"});
  EXPECT_TRUE(command_names_netdev("netdev_del"));
  EXPECT_FALSE(command_names_netdev("netdev_add"));
  EXPECT_FALSE(command_names_netdev("query-hubs"));
}

// Anti-spoofing guards the host against a guest and its VMM: owning a NIC's
// tap does not let a VMM switch it off, whatever an owned rule's prefix.
TEST(AccessPolicy, NoOwnedRuleAllowsSetAntiSpoof) {
  EXPECT_FALSE(command_names_netdev("set-anti-spoof"));
  auto rules = parse_access("[[allow]]\nuid = 1000\ncommands = [\"set-*\"]\nowned = true\n", "access.toml");
  ASSERT_TRUE(rules) << rules.error().message;
  AccessPolicy policy(std::move(*rules));
  policy.set_owner_lookup([](const std::string&) -> std::optional<uint32_t> { return 1000; });
  EXPECT_FALSE(policy.refusal(kVmm, "set-rx-filter", json{{"name", "nic-mine"}}));
  EXPECT_TRUE(policy.refusal(kVmm, "set-anti-spoof", json{{"name", "nic-mine"}, {"enable", false}}));
}

TEST(AccessPolicy, AnOwnedRuleDoesNotAllowListCommands) {
  AccessPolicy policy = policy_of("[[allow]]\nuid = 1000\ncommands = [\"query-*\"]\nowned = true\n", {{"t", 1000}});
  EXPECT_EQ(policy.refusal(kVmm, "query-netdevs", json::object()),
            "Permission denied: uid 1000 may not run query-netdevs (its rule is for owned netdevs, and this request "
            "names none)");
  EXPECT_FALSE(policy.refusal(kVmm, "query-rx-filter", json{{"name", "t"}}));
  EXPECT_FALSE(policy.refusal(kVmm, "query-netdevs", json{{"id", "t"}}));
  EXPECT_TRUE(policy.refusal(kVmm, "query-netdevs", json{{"id", "someone-elses"}}));
  EXPECT_FALSE(policy.refusal(kVmm, "qmp_capabilities", json::object()));
}

TEST(AccessPolicy, WithoutAnOwnerLookupNothingIsOwned) {
  auto rules = parse_access("[[allow]]\nuid = 1000\ncommands = [\"netdev_del\"]\nowned = true\n", "a.toml");
  ASSERT_TRUE(rules);
  AccessPolicy policy(std::move(*rules));
  EXPECT_TRUE(policy.refusal(kVmm, "netdev_del", json{{"id", "t"}}));
}

}  // namespace
}  // namespace vnet::access
