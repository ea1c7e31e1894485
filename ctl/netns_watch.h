// NetnsWatch - notices when the namespace of a netdev made with netns= is no
// longer named by its path, so that the netdev goes with it.
//
// vnetd's own fds (tun queues, rtnetlink) keep such a namespace alive, so
// the kernel never tells vnetd it died; what vnetd sees is its name going.
// `ip netns del` and runtimes unmount /var/run/netns/NAME and remove the
// file: inotify on the directory says which name went, and that netdev alone
// is checked. /proc/PID/ns/net goes with its process: a pidfd says so. A
// path only unmounted (the file left) is found by the mount table changing:
// then every watched path is checked, one stat() each, at most once per
// kMountCheckDelayMs, so a host's churn of mounts costs at most that.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "backends/tap/tap_backend.h"
#include "ctl/loop/event_loop.h"
#include "ctl/loop/loop_timer.h"
#include "kernel_ifaces/netns.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet {

class NetnsWatch {
 public:
  static constexpr unsigned kMountCheckDelayMs = 2000;
  using OnGone = std::function<void(const std::string& netdev_id)>;

  static Result<std::unique_ptr<NetnsWatch>> create(EventLoop& loop, OnGone on_gone);
  ~NetnsWatch();
  NetnsWatch(const NetnsWatch&) = delete;
  NetnsWatch& operator=(const NetnsWatch&) = delete;

  // Watches netdev `id`'s namespace for as long as the returned token lives
  // (the tap holds it). A namespace already unnamed is reported at once.
  std::unique_ptr<tap::NamespaceWatch> watch(const std::string& id, std::shared_ptr<netns::Netns> netns);
  size_t watched() const { return watched_.size(); }

 private:
  class Token;
  struct Watched {
    std::shared_ptr<netns::Netns> netns;
    UniqueFd pidfd;             // for /proc/PID/... paths
    bool in_directory = false;  // any other: its directory is watched
  };
  struct Directory {
    int wd = -1;
    size_t paths = 0;  // watched paths in it
  };
  NetnsWatch(EventLoop& loop, OnGone on_gone, UniqueFd mountinfo, UniqueFd inotify)
      : loop_(loop), on_gone_(std::move(on_gone)), mountinfo_(std::move(mountinfo)), inotify_(std::move(inotify)) {}
  void forget(const std::string& id);
  void watch_directory_of(const std::string& id, const std::string& path);
  void forget_directory_of(const std::string& id, const std::string& path);
  void on_directory_events();
  void check_soon();
  void check_all();
  void on_process_exit(const std::string& id);
  void report_if_gone(const std::string& id);

  EventLoop& loop_;
  OnGone on_gone_;
  UniqueFd mountinfo_;
  UniqueFd inotify_;
  std::unique_ptr<LoopTimer> timer_;
  std::unordered_map<std::string, Watched> watched_;
  std::unordered_map<std::string, Directory> directories_;       // by path
  std::unordered_map<int, std::string> directory_of_wd_;
  std::unordered_multimap<std::string, std::string> ids_by_path_;  // watched path -> netdev ids
};

}  // namespace vnet
