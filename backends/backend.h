// Backend - what the daemon holds for one netdev: the kernel or userspace
// objects behind it. One folder per netdev type implements it.
#pragma once

#include <array>
#include <cstdint>
#include <cerrno>
#include <map>
#include <optional>
#include <span>
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
using DetailValue = std::variant<int64_t, std::string, bool, std::vector<std::string>, std::vector<int64_t>,
                                 std::map<std::string, int64_t>>;
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

  // The tap fd a guest NIC's rx filter program is attached to
  // (TUNSETFILTEREBPF), for backends that have one.
  virtual std::optional<int> filter_attach_fd() const { return std::nullopt; }

  // Sending a frame into the network as if the guest behind this backend's
  // peer NIC had sent it (announce-self). Kernel-backed backends name the
  // device the frame is to be received on, so it can be injected there with
  // no fd (ebpf/frame_injector.h); send_from_guest() is the direct way.
  virtual int guest_tx_ifindex() const { return 0; }
  // The device the guest sends into when it is in another network namespace
  // (a tap made with netns=), where guest_tx_ifindex() is 0: its ifindex
  // there, and an fd of that namespace to attach BPF programs from.
  struct ForeignDevice {
    int ifindex = 0;
    int netns_fd = -1;
  };
  virtual std::optional<ForeignDevice> guest_tx_foreign_device() const { return std::nullopt; }
  virtual Result<void> send_from_guest(std::span<const uint8_t> frame) {
    (void)frame;
    return Error{EOPNOTSUPP, "this netdev type carries no frames in vnetd yet"};
  }

  // The netdev's record is durable (the state journal committed it): what
  // the backend created may now outlive the daemon (a tap made persistent).
  // Before this, a crash must take it along.
  virtual void record_committed() {}

  // The daemon is stopping with --keep-devices, or a restart is to re-adopt
  // this netdev: on destruction, leave the kernel objects (devices, attached
  // filters, pinned maps) in place, only closing our own fds.
  virtual void keep_on_exit() {}

  // Told when the registry pairs this backend with a peer, and when the pair
  // is undone (either side deleted). A failing peer_connected() undoes the add.
  virtual Result<void> peer_connected(Backend& peer) {
    (void)peer;
    return {};
  }
  virtual void peer_disconnected(Backend& peer) { (void)peer; }
  // The peer carries its frames through a kernel device of its own (a NIC's
  // tap on a hub port): the device, and the packet socket vnetd reads it
  // with (-1: none). A hub whose ports all have one forwards in the kernel.
  // Gone is told before the socket closes.
  struct KernelPath {
    int ifindex = 0;
    int host_side_socket = -1;
    // A tap facing the host (a tap netdev): what the host sends out of it
    // enters the hub, and the hub's frames go into the host's stack.
    bool host_facing = false;
    // The one unicast address its guest's rx filter takes (none: any, or
    // not known): a kernel hub offers other unicast frames no copy.
    std::optional<std::array<uint8_t, 6>> only_unicast_to;
  };
  virtual void peer_kernel_path_ready(const KernelPath& path) { (void)path; }
  virtual void peer_kernel_path_gone() {}
  // A guest NIC: its VMM moves the frames of its peer (a tap's queues, a
  // vhost device). Any other peer's frames are moved by vnetd.
  virtual bool is_guest_nic() const { return false; }
};

}  // namespace vnet
