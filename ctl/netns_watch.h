// NetnsWatch - notices when the namespace of a netdev made with netns= is no
// longer named by its path, so that the netdev goes with it.
//
// vnetd's own fds (tun queues, rtnetlink) keep such a namespace alive, so
// the kernel never tells vnetd it died; what vnetd sees is its name going:
// `ip netns del` unmounts /var/run/netns/NAME (the mount table changes) and
// /proc/PID/ns/net goes with its process (a pidfd becomes readable). Mount
// changes are checked together, once per kCheckDelayMs, at a cost of one
// stat() per watched netdev; a process's exit checks that netdev alone.
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
  static constexpr unsigned kCheckDelayMs = 100;
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
    UniqueFd pidfd;  // for /proc/PID/... paths
  };
  NetnsWatch(EventLoop& loop, OnGone on_gone, UniqueFd mountinfo)
      : loop_(loop), on_gone_(std::move(on_gone)), mountinfo_(std::move(mountinfo)) {}
  void forget(const std::string& id);
  void check_soon();
  void check_all();
  void report_if_gone(const std::string& id);

  EventLoop& loop_;
  OnGone on_gone_;
  UniqueFd mountinfo_;
  std::unique_ptr<LoopTimer> timer_;
  std::unordered_map<std::string, Watched> watched_;
};

}  // namespace vnet
