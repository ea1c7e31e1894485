#include "kernel_ifaces/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vnet::unix_socket {

Result<void> check_mode(mode_t mode) {
  if (mode & ~mode_t{0777}) return Error{EINVAL, "a socket mode has permission bits only (0 to 0777)"};
  // Anyone could connect.
  if (mode & S_IWOTH) return Error{EINVAL, "a world-writable socket (o+w) is refused"};
  return {};
}

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return Error::plain("socket path \"" + path + "\" is too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode));
  return text;
}

// Bound owner-only (0600), given its group and then its mode, and only then
// listening: before listen() nobody can connect whatever the mode, and the
// mode never is wider than asked.
Result<void> bind_and_listen(int fd, const sockaddr_un& addr, const FileAccess& access) {
  mode_t old_mask = umask(0177);
  int bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int bind_errno = errno;
  umask(old_mask);
  if (bound < 0) return Error::from_errno(bind_errno, std::string("bind to \"") + addr.sun_path + "\"");
  auto undo = [&](const std::string& what) {
    int saved = errno;
    unlink(addr.sun_path);
    return Error::from_errno(saved, what + " \"" + addr.sun_path + "\"");
  };
  if (access.group && chown(addr.sun_path, static_cast<uid_t>(-1), *access.group) < 0) {
    return undo("giving group " + std::to_string(*access.group) + " to");
  }
  if (chmod(addr.sun_path, access.mode) < 0) return undo("chmod " + octal_mode(access.mode) + " of");
  if (listen(fd, 64) < 0) return undo("listen on");
  return {};
}

}  // namespace

Result<UniqueFd> listen_at(const std::string& path, const FileAccess& access) {
  if (auto mode = check_mode(access.mode); !mode) return mode.take_error();
  auto addr = unix_address(path);
  if (!addr) return addr.take_error();

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket(AF_UNIX)");
  // A socket file left by a daemon that died is stale; one that answers is not.
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) == 0) {
    return Error{EADDRINUSE, "another process is already serving on \"" + path + "\""};
  }
  // Only a stale socket is replaced, never another kind of file.
  struct stat existing {};
  if (lstat(path.c_str(), &existing) == 0 && !S_ISSOCK(existing.st_mode)) {
    return Error::plain("\"" + path + "\" exists and is not a socket: not replacing it");
  }
  // Bound and listening under a private name, then renamed into place: whoever
  // sees the path can connect (bind creates the file before listen would let a
  // connect succeed), and a stale socket is replaced in the same step.
  std::string staging = path + ".new" + std::to_string(getpid());
  auto staged = unix_address(staging);
  if (!staged) {
    // No room in sun_path for the private name: bind in place.
    unlink(path.c_str());
    if (auto listening = bind_and_listen(fd.get(), *addr, access); !listening) return listening.take_error();
    return fd;
  }
  unlink(staging.c_str());
  if (auto listening = bind_and_listen(fd.get(), *staged, access); !listening) return listening.take_error();
  if (rename(staging.c_str(), path.c_str()) < 0) {
    int rename_errno = errno;
    unlink(staging.c_str());
    return Error::from_errno(rename_errno, "renaming \"" + staging + "\" to \"" + path + "\"");
  }
  return fd;
}

}  // namespace vnet::unix_socket
