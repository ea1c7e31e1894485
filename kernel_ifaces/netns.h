// netns - network namespaces by path (/var/run/netns/NAME, /proc/PID/ns/net):
// opened once, known by their nsfs identity, and entered by the calling
// thread for as long as a scope lasts.
//
// The kernel ties a tun file, a netlink socket and any other socket to the
// namespace of the thread that opened it, and each of them keeps that
// namespace alive. So a device is made in another namespace by opening its
// fds there; afterwards they work from anywhere.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::netns {

// A namespace's identity: its nsfs inode (what `ls -i /proc/PID/ns/net` and
// `ip netns identify` compare).
struct NetnsId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NetnsId&) const = default;
};

// The identity of the namespace a path names now; an error when the path is
// gone or is not a network namespace.
Result<NetnsId> identify(const std::string& path);

// An open network namespace. Its fd keeps the namespace alive: a Netns is
// held only while a netdev of vnetd's lives in it.
class Netns {
 public:
  static Result<std::shared_ptr<Netns>> open(const std::string& path);

  const std::string& path() const { return path_; }
  NetnsId id() const { return id_; }
  int fd() const { return fd_.get(); }
  // Whether path() still names this namespace: false once `ip netns del`
  // unmounted it or the process of /proc/PID/ns/net exited.
  bool still_named() const;
  // An rtnetlink socket in the namespace, opened on first use; for the
  // daemon's loop thread only (libnl sockets are not thread-safe).
  Result<rtnl::Rtnl*> rtnl();

 private:
  Netns(std::string path, UniqueFd fd, NetnsId id) : path_(std::move(path)), fd_(std::move(fd)), id_(id) {}
  std::string path_;
  UniqueFd fd_;
  NetnsId id_;
  std::optional<rtnl::Rtnl> rtnl_;
};

// The calling thread inside another network namespace until this is
// destroyed, which returns it to the namespace it was in. Sockets and tun
// fds opened meanwhile belong to the other namespace.
class ScopedNetns {
 public:
  static Result<ScopedNetns> enter(int target_fd, const std::string& what);
  ScopedNetns(ScopedNetns&& other) noexcept = default;
  ScopedNetns& operator=(ScopedNetns&&) = delete;
  ~ScopedNetns();

 private:
  explicit ScopedNetns(UniqueFd own) : own_(std::move(own)) {}
  UniqueFd own_;  // the thread's namespace before enter()
};

}  // namespace vnet::netns
