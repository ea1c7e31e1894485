// --access files and [[allow]] in --config: good rules parse, bad ones name
// file:line and key; patterns match names and prefixes.
#include <gtest/gtest.h>

#include "ctl/access/access_rules.h"
#include "ctl/config/daemon_config.h"

namespace vnet::access {
namespace {

std::string error_of(const std::string& text) {
  auto rules = parse_access(text, "access.toml");
  return rules ? "" : rules.error().message;
}

TEST(AccessRules, TheContractExampleParses) {
  auto rules = parse_access(
      "[[allow]]\nuid = 1000\ncommands = [\"qmp_capabilities\", \"query-*\"]\n\n"
      "[[allow]]\nuid = 1000\ncommands = [\"netdev-get-fds\"]\nowned = true\n\n"
      "[[allow]]\ngid = 4242\ncommands = [\"*\"]\n",
      "access.toml");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].uid, 1000u);
  EXPECT_FALSE((*rules)[0].gid);
  EXPECT_EQ((*rules)[0].commands, (std::vector<std::string>{"qmp_capabilities", "query-*"}));
  EXPECT_FALSE((*rules)[0].owned);
  EXPECT_EQ((*rules)[0].where, "access.toml:1");
  EXPECT_TRUE((*rules)[1].owned);
  EXPECT_EQ((*rules)[1].where, "access.toml:5");
  EXPECT_EQ((*rules)[2].gid, 4242u);
  EXPECT_FALSE((*rules)[2].uid);
}

TEST(AccessRules, AnEmptyFileHasNoRules) {
  auto rules = parse_access("# nobody but root\n", "access.toml");
  ASSERT_TRUE(rules);
  EXPECT_TRUE(rules->empty());
}

TEST(AccessRules, BadFilesNameLineAndKey) {
  EXPECT_EQ(error_of("[[allow]]\nuid = 1000\n"), "access.toml:1: key 'allow.commands': is required (names, or "
                                                 "prefixes ending in '*')");
  EXPECT_EQ(error_of("[[allow]]\ncommands = [\"query-*\"]\n"),
            "access.toml:1: key 'allow': says whom it is for with uid = N or gid = N");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ngid = 2\ncommands = [\"query-*\"]\n"),
            "access.toml:1: key 'allow': give uid or gid, not both (two rules say both)");
  EXPECT_EQ(error_of("[[allow]]\nuid = -1\ncommands = [\"query-*\"]\n"),
            "access.toml:2: key 'allow.uid': expected a number from 0 to 4294967294");
  EXPECT_EQ(error_of("[[allow]]\nuid = 4294967295\ncommands = [\"query-*\"]\n"),
            "access.toml:2: key 'allow.uid': expected a number from 0 to 4294967294");
  EXPECT_EQ(error_of("[[allow]]\ngid = \"kvm\"\ncommands = [\"query-*\"]\n"),
            "access.toml:2: key 'allow.gid': expected a number from 0 to 4294967294");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = []\n"),
            "access.toml:3: key 'allow.commands': expected a non-empty list of names or prefixes ending in '*'");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = \"query-*\"\n"),
            "access.toml:3: key 'allow.commands': expected a non-empty list of names or prefixes ending in '*'");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"query-netdev\"]\n"),
            "access.toml:3: key 'allow.commands': unknown command 'query-netdev'");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"q*ry\"]\n"),
            "access.toml:3: key 'allow.commands': 'q*ry': '*' may only end a prefix");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"\"]\n"), "access.toml:3: key 'allow.commands': an empty command name");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [5]\n"),
            "access.toml:3: key 'allow.commands': expected a command name or a prefix ending in '*'");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"netdev_add\"]\nowned = true\n"),
            "access.toml:3: key 'allow.commands': 'netdev_add' names no netdev, so owned = true never allows it");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"netdev_del\"]\nowned = \"yes\"\n"),
            "access.toml:4: key 'allow.owned': expected true or false");
  EXPECT_EQ(error_of("[[allow]]\nuid = 1\ncommands = [\"netdev_del\"]\nuser = \"x\"\n"),
            "access.toml:4: key 'allow.user': unknown key (uid, gid, commands, owned)");
  EXPECT_EQ(error_of("[allow]\nuid = 1\n"), "access.toml:1: key 'allow': unknown (the file holds [[allow]] tables)");
  EXPECT_EQ(error_of("[[deny]]\nuid = 1\n"), "access.toml:1: key 'deny': unknown (the file holds [[allow]] tables)");
  // TOML syntax errors come with their line, as toml++ reports them.
  EXPECT_EQ(error_of("[[allow]]\nuid = = 1\n").rfind("access.toml:2: ", 0), 0u) << error_of("[[allow]]\nuid = = 1\n");
}

TEST(AccessRules, AMissingFileIsAnError) {
  auto rules = load_access_file("/nonexistent/access.toml");
  ASSERT_FALSE(rules);
  EXPECT_NE(rules.error().message.find("/nonexistent/access.toml"), std::string::npos) << rules.error().message;
}

TEST(AccessRules, PatternsMatchNamesAndPrefixes) {
  EXPECT_TRUE(command_matches("query-*", "query-netdevs"));
  EXPECT_TRUE(command_matches("query-*", "query-"));
  EXPECT_FALSE(command_matches("query-*", "query"));
  EXPECT_FALSE(command_matches("query-*", "netdev_add"));
  EXPECT_TRUE(command_matches("*", "netdev_add"));
  EXPECT_TRUE(command_matches("netdev_del", "netdev_del"));
  EXPECT_FALSE(command_matches("netdev_del", "netdev_del2"));
  EXPECT_FALSE(command_matches("netdev_del", "netdev_de"));
  EXPECT_TRUE(command_matches("netdev*", "netdev-get-fds"));
}

TEST(AccessRules, ConfigFilesTakeAllowTablesWithTheSameChecks) {
  auto config = config::parse("[[allow]]\nuid = 1000\ncommands = [\"query-*\"]\n", "vnetd.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->access_rules.size(), 1u);
  EXPECT_EQ(config->access_rules[0].uid, 1000u);
  auto bad = config::parse("[[netdev]]\ntype = \"hubport\"\nid = \"h0\"\nhubid = 0\n\n[[allow]]\nuid = 1000\n"
                           "commands = [\"nope\"]\n",
                           "vnetd.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "vnetd.toml:8: key 'allow.commands': unknown command 'nope'");
  auto unknown = config::parse("[[grant]]\nuid = 1\n", "vnetd.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "vnetd.toml:1: key 'grant': unknown (the file holds [[netdev]], [[rule]] and [[allow]] tables and [programs])");
}

}  // namespace
}  // namespace vnet::access
