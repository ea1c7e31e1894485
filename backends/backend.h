// Backend - what the daemon holds for one netdev: the kernel or userspace
// objects behind it. One folder per netdev type implements it.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet {

enum class FdRole { tap, vhost, vhost_vdpa };

// An fd a VMM may ask for (netdev-get-fds); the backend keeps owning it.
struct BackendFd {
  FdRole role;
  int queue;
  int fd;
};

// One fact for query-netdevs' "details" (ifname, ifindex, queues, ...).
using DetailValue = std::variant<int64_t, std::string, bool, std::vector<std::string>, std::vector<int64_t>>;
struct Detail {
  std::string key;
  DetailValue value;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Host-side link state for set_link; backends with no kernel object to
  // change only have the state recorded by the registry.
  virtual Result<void> set_link(bool up) {
    (void)up;
    return {};
  }
  virtual std::vector<Detail> details() const { return {}; }
  virtual std::vector<BackendFd> fds() const { return {}; }
};

}  // namespace vnet
