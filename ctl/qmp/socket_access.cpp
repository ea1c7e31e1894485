#include "ctl/qmp/socket_access.h"

#include <grp.h>
#include <sys/stat.h>

#include <string>
#include <vector>

namespace vnet::qmp {

namespace {

// (gid_t)-1 is "no group" to chown(2).
constexpr unsigned long long kMaxGid = 4294967294;

}  // namespace

Result<SocketAccess> parse_socket_access(const std::string& mode, const std::string& name) {
  SocketAccess access;
  if (mode.empty() || mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos) {
    return Error{EINVAL, "--socket-mode " + mode + ": expected an octal mode such as 0660"};
  }
  access.mode = static_cast<mode_t>(std::stoul(mode, nullptr, 8));
  if (auto checked = unix_socket::check_mode(access.mode); !checked) {
    const char* instead = access.mode & S_IWOTH ? ": let a group in with --socket-group" : "";
    return Error{EINVAL, "--socket-mode " + mode + ": " + checked.error().message + instead};
  }
  if (name.empty()) return access;
  if (name.find_first_not_of("0123456789") == std::string::npos) {
    if (name.size() > 10 || std::stoull(name) > kMaxGid) {
      return Error{EINVAL, "--socket-group " + name + ": a gid is at most " + std::to_string(kMaxGid)};
    }
    access.group = static_cast<gid_t>(std::stoul(name));
    return access;
  }
  struct group buffer{};
  std::vector<char> strings(16384);
  struct group* found = nullptr;
  int err = getgrnam_r(name.c_str(), &buffer, strings.data(), strings.size(), &found);
  if (err != 0) return Error::from_errno(err, "--socket-group " + name + ": looking the group up");
  if (!found) return Error{ENOENT, "--socket-group " + name + ": no such group"};
  access.group = found->gr_gid;
  return access;
}

}  // namespace vnet::qmp
