// --socket-mode and --socket-group as vnetd reads them.
#include <gtest/gtest.h>

#include "ctl/qmp/socket_access.h"

namespace vnet::qmp {
namespace {

std::string error_of(const std::string& mode, const std::string& group) {
  auto access = parse_socket_access(mode, group);
  return access ? "" : access.error().message;
}

TEST(SocketAccess, ModesAreOctalPermissionBitsWithoutOthersWrite) {
  auto access = parse_socket_access("0660", "");
  ASSERT_TRUE(access);
  EXPECT_EQ(access->mode, 0660u);
  EXPECT_FALSE(access->group);
  EXPECT_EQ(parse_socket_access("600", "")->mode, 0600u);
  EXPECT_EQ(parse_socket_access("0664", "")->mode, 0664u);  // o+r alone lets nobody connect
  EXPECT_EQ(error_of("0666", ""), "--socket-mode 0666: a world-writable socket (o+w) is refused: let a group in "
                                  "with --socket-group");
  EXPECT_EQ(error_of("0002", ""), "--socket-mode 0002: a world-writable socket (o+w) is refused: let a group in "
                                  "with --socket-group");
  EXPECT_EQ(error_of("4660", ""), "--socket-mode 4660: a socket mode has permission bits only (0 to 0777)");
  EXPECT_EQ(error_of("0680", ""), "--socket-mode 0680: expected an octal mode such as 0660");
  EXPECT_EQ(error_of("", ""), "--socket-mode : expected an octal mode such as 0660");
  EXPECT_EQ(error_of("00660", ""), "--socket-mode 00660: expected an octal mode such as 0660");
}

TEST(SocketAccess, GroupsByNumberOrName) {
  EXPECT_EQ(parse_socket_access("0660", "1000")->group, 1000u);
  EXPECT_EQ(parse_socket_access("0660", "0")->group, 0u);
  EXPECT_EQ(parse_socket_access("0660", "root")->group, 0u);  // every Debian system has it
  EXPECT_EQ(error_of("0660", "4294967295"), "--socket-group 4294967295: a gid is at most 4294967294");
  EXPECT_EQ(error_of("0660", "99999999999999999999"), "--socket-group 99999999999999999999: a gid is at most 4294967294");
  EXPECT_EQ(error_of("0660", "no-such-group-here"), "--socket-group no-such-group-here: no such group");
}

}  // namespace
}  // namespace vnet::qmp
