// ProgramPolicy (ctl/program_policy.h) and its [programs] table in --config:
// what a client may make vnetd run or serve as root. The file checks (paths,
// owners, modes) are in tests/netns/test_program_policy.py.
#include <gtest/gtest.h>

#include "ctl/config/daemon_config.h"
#include "ctl/program_policy.h"

namespace vnet {
namespace {

TEST(ProgramPolicy, DefaultsAllowNoClientProgram) {
  ProgramPolicy policy;
  EXPECT_EQ(policy.script_dirs, std::vector<std::string>{"/etc/vnetctl/scripts"});
  EXPECT_FALSE(policy.user_guestfwd_cmd);
  EXPECT_TRUE(policy.user_dirs.empty());
  EXPECT_TRUE(policy.check_vde_url("/run/vde.ctl"));  // a switch directory
  EXPECT_TRUE(policy.check_vde_url("vde:///run/vde.ctl"));
  EXPECT_TRUE(policy.check_vde_url("null://"));
  auto cmd = policy.check_vde_url("cmd://id");
  ASSERT_FALSE(cmd);
  EXPECT_EQ(cmd.error().message,
            "sock=cmd://id: refused: libvdeplug plugin 'cmd' is not in vde-plugins (vde, null) (see docs/security.md)");
  EXPECT_FALSE(policy.check_vde_url("tap://eth0"));
  EXPECT_FALSE(policy.check_guestfwd_target("tcp:10.0.2.100:1-cmd:id", "cmd:id"));
  EXPECT_TRUE(policy.check_guestfwd_target("tcp:10.0.2.100:1-tcp:127.0.0.1:80", "tcp:127.0.0.1:80"));
  EXPECT_FALSE(policy.check_user_dir("tftp", "/"));
}

TEST(ProgramPolicy, AStarAllowsEveryPlugin) {
  ProgramPolicy policy;
  policy.vde_plugins = {"*"};
  EXPECT_TRUE(policy.check_vde_url("cmd://id"));
}

TEST(ProgramPolicy, AHelperIsSplitIntoWordsAndItsProgramChecked) {
  ProgramPolicy policy;
  policy.helper_dirs = {"/bin", "/usr/bin"};
  auto argv = policy.check_helper("/usr/bin/true  --a  --b");
  ASSERT_TRUE(argv) << argv.error().message;
  ASSERT_EQ(argv->size(), 3u);
  EXPECT_EQ((*argv)[1], "--a");
  EXPECT_EQ((*argv)[2], "--b");
  auto outside = policy.check_helper("/usr/sbin/nologin --x");
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("helper=/usr/sbin/nologin: refused: not in a directory helper-dirs allows"),
            std::string::npos)
      << outside.error().message;
  EXPECT_FALSE(policy.check_helper("   "));
  EXPECT_FALSE(policy.check_helper("true"));  // relative: no PATH search
}

TEST(ProgramPolicy, TheProgramsTableSetsEveryMember) {
  auto config = config::parse(
      "[programs]\nscript-dirs = [\"/etc/a\"]\nhelper-dirs = []\nscript-timeout-ms = 1500\n"
      "vde-plugins = [\"vde\"]\nuser-guestfwd-cmd = true\nuser-dirs = [\"/srv/tftp\"]\n",
      "vnetd.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->programs.script_dirs, std::vector<std::string>{"/etc/a"});
  EXPECT_TRUE(config->programs.helper_dirs.empty());
  EXPECT_EQ(config->programs.script_timeout.count(), 1500);
  EXPECT_EQ(config->programs.vde_plugins, std::vector<std::string>{"vde"});
  EXPECT_TRUE(config->programs.user_guestfwd_cmd);
  EXPECT_EQ(config->programs.user_dirs, std::vector<std::string>{"/srv/tftp"});
}

TEST(ProgramPolicy, BadProgramsTablesNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"[programs]\nscript-dirs = [\"scripts\"]\n",
       "vnetd.toml:2: key 'script-dirs': 'scripts' is not an absolute path"},
      {"[programs]\nscript-dirs = \"/etc\"\n", "vnetd.toml:2: key 'script-dirs': expected an array of strings"},
      {"[programs]\nscript-timeout-ms = 0\n", "vnetd.toml:2: key 'script-timeout-ms': expected milliseconds, 1 to 600000"},
      {"[programs]\nuser-guestfwd-cmd = 1\n", "vnetd.toml:2: key 'user-guestfwd-cmd': expected true or false"},
      {"[programs]\nshell = true\n",
       "vnetd.toml:2: key 'shell': unknown (known: script-dirs, helper-dirs, script-timeout-ms, vde-plugins, "
       "user-guestfwd-cmd, user-dirs)"},
      {"programs = 1\n", "vnetd.toml:1: key 'programs': expected a table"},
  };
  for (const auto& c : cases) {
    auto config = config::parse(c.text, "vnetd.toml");
    ASSERT_FALSE(config) << c.text;
    EXPECT_EQ(config.error().message, c.error) << c.text;
  }
}

}  // namespace
}  // namespace vnet
