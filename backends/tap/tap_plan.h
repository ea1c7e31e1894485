// TapPlan - what a tap netdev's options ask for, checked as QEMU's
// net_init_tap() checks them (same combinations refused, same texts), and
// resolved into one of four ways of getting the tap's fds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel_ifaces/mac.h"
#include "kernel_ifaces/result.h"
#include "qapi_types.h"

namespace vnet::tap {

// The kernel's limit on a tap's queues (MAX_TAP_QUEUES in drivers/net/tun.c).
inline constexpr uint32_t kMaxQueues = 256;
// QEMU's DEFAULT_BRIDGE_INTERFACE, for helper= and the bridge netdev.
inline constexpr const char* kDefaultBridge = "br0";
// struct virtio_net_hdr, the size QEMU's tap_open() sets.
inline constexpr int kVirtioNetHdrSize = 10;

enum class Source {
  create,  // open /dev/net/tun per queue (ifname= or a kernel-chosen name)
  fd,      // fd=NAME: one fd the client passed with getfd
  fds,     // fds=A:B:...: one fd per queue
  helper,  // helper=PATH: an external helper returns the fd
};

enum class VhostMode { off, open_device, named_fds };

struct TapPlan {
  Source source = Source::create;
  std::string ifname;                // create: name or "" for "tap%d"
  uint32_t queues = 1;
  std::vector<std::string> fd_names; // fd / fds
  bool vnet_hdr_wanted = true;       // default on, as QEMU
  bool vnet_hdr_required = false;    // vnet_hdr=on given explicitly
  std::optional<uint64_t> sndbuf;
  std::string script;                // "" = none (vnetd's default; QEMU runs /etc/qemu-ifup)
  std::string downscript;
  // The daemon runs the up-script itself, off its loop, once the tap is made
  // (TapBackend::deferred_script()); else create() runs it and waits.
  bool defer_script = false;
  std::string bridge;                // br=
  std::string helper;                // as given
  std::vector<std::string> helper_argv;  // what runs: its words, checked by the daemon's policy
  VhostMode vhost = VhostMode::off;
  bool vhost_required = false;       // vhost=on or vhostforce=on: failing to get vhost is an error
  std::vector<std::string> vhost_fd_names;
  std::optional<uint32_t> poll_us;
  std::optional<uint32_t> owner;     // TUNSETOWNER (vnetd extension)
  std::optional<uint32_t> group;     // TUNSETGROUP (vnetd extension)
  // vnetd extensions: the namespace to make the tap in ("" for vnetd's own),
  // and the device's MTU and MAC.
  std::string netns;
  std::optional<uint32_t> mtu;
  std::optional<MacBytes> mac;
  // false: vnetd closes its queue fds once the tap is persistent, and a VMM
  // opens them by name (TUNSETIFF as owner/group).
  bool hold_queues = true;
};

// Checks the combination of options; the error texts are QEMU's where QEMU
// refuses the same thing.
Result<TapPlan> plan_tap(const qapi::NetdevTapOptions& options);
// The bridge netdev: a new tap on `br` (br0 by default), natively unless
// `helper` names an external helper (QEMU always runs qemu-bridge-helper).
Result<TapPlan> plan_bridge(const qapi::NetdevBridgeOptions& options);

// "a:b:c" -> {"a","b","c"}, as QEMU's get_fds().
std::vector<std::string> split_fd_names(const std::string& list);

}  // namespace vnet::tap
