#include "kernel_ifaces/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "kernel_ifaces/log.h"

namespace vnet::netns {

namespace {

Result<NetnsId> identify_fd(int fd, const std::string& path) {
  // NS_GET_NSTYPE tells an nsfs file from anything else (a plain file left
  // behind by an unmounted /var/run/netns/NAME is not one).
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) {
    if (errno == ENOTTY || errno == EINVAL) return Error{EINVAL, "netns '" + path + "': not a namespace"};
    return errno_error("netns '" + path + "': NS_GET_NSTYPE");
  }
  if (type != CLONE_NEWNET) return Error{EINVAL, "netns '" + path + "': not a network namespace"};
  struct stat st {};
  if (fstat(fd, &st) != 0) return errno_error("netns '" + path + "': fstat");
  return NetnsId{st.st_dev, st.st_ino};
}

Result<UniqueFd> open_path(const std::string& path) {
  if (path.empty() || path[0] != '/') return Error{EINVAL, "netns '" + path + "': not an absolute path"};
  // nsfs files are regular files: anything else (a FIFO that would block
  // the daemon, a device with side effects on open) is not opened at all.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("netns '" + path + "'");
  if (!S_ISREG(st.st_mode)) return Error{EINVAL, "netns '" + path + "': not a namespace"};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return errno_error("netns '" + path + "'");
  return fd;
}

}  // namespace

Result<NetnsId> identify(const std::string& path) {
  auto fd = open_path(path);
  if (!fd) return fd.take_error();
  return identify_fd(fd->get(), path);
}

Result<std::shared_ptr<Netns>> Netns::open(const std::string& path) {
  auto fd = open_path(path);
  if (!fd) return fd.take_error();
  auto id = identify_fd(fd->get(), path);
  if (!id) return id.take_error();
  return std::shared_ptr<Netns>(new Netns(path, std::move(*fd), *id));
}

bool Netns::still_named() const {
  // stat, not open: a path's namespace is compared without taking a
  // reference to it.
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  return st.st_dev == id_.dev && st.st_ino == id_.ino;
}

Result<rtnl::Rtnl*> Netns::rtnl() {
  if (!rtnl_) {
    auto inside = ScopedNetns::enter(fd(), "netns '" + path_ + "'");
    if (!inside) return inside.take_error();
    auto connected = rtnl::Rtnl::connect();
    if (!connected) return connected.take_error("netns '" + path_ + "'");
    rtnl_.emplace(std::move(*connected));
  }
  return &*rtnl_;
}

Result<ScopedNetns> ScopedNetns::enter(int target_fd, const std::string& what) {
  UniqueFd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!own) return errno_error("opening this thread's network namespace");
  if (setns(target_fd, CLONE_NEWNET) != 0) return errno_error("entering " + what);
  return ScopedNetns(std::move(own));
}

ScopedNetns::~ScopedNetns() {
  if (!own_) return;  // moved from
  if (setns(own_.get(), CLONE_NEWNET) != 0) {
    // A thread left in another namespace would make the daemon's later
    // sockets there: nothing sane can follow.
    log::error(std::string("returning to vnetd's network namespace: ") + std::strerror(errno));
    std::abort();
  }
}

}  // namespace vnet::netns
