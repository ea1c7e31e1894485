// The one place that maps a netdev type to the backend that builds it.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>

#include "ctl/program_policy.h"
#include "backends/backend.h"
#include "backends/tap/bridge/bridge_acl.h"
#include "backends/datapath/frame_loop.h"
#include "backends/hubport/hub.h"
#include "backends/l2tpv3/l2tpv3_offload.h"
#include "backends/tap/tap_backend.h"
#include "backends/tap/teardown_queue.h"
#include "ctl/qapi/qmp_error.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet {

// What one netdev_add brings besides its options.
struct BackendRequest {
  // Takes the requesting client's getfd fds.
  std::function<std::optional<UniqueFd>(const std::string&)> take_named_fd;
  // For a NIC without macaddr: QEMU's next free 52:54:00:12:34:xx.
  std::array<uint8_t, 6> default_mac{};
  // A restarted daemon re-adopting a tap (tap and bridge netdevs).
  std::optional<tap::TapBackend::Record> restore_tap;
  // A tap's up-script is left for the caller to run (TapPlan::defer_script).
  bool defer_script = false;
  // A restarted daemon's l2tpv3 netdev whose record names a kernel tunnel.
  std::optional<uint32_t> restore_l2tp_tunnel = std::nullopt;
  // A NIC gets a tap of its own for its VMM (its netdev is a hub port, or
  // a restarted daemon's record says it had one: restore_tap).
  bool nic_gets_tap = false;
};

struct DaemonResources;
class NetnsWatch;

// Builds the backend for a netdev whose options passed the schema and the
// registry's checks (id, duplicates, peers). Failures carry the QMP error.
using BackendFactory = QmpResult<std::unique_ptr<Backend>> (*)(const qapi::Netdev& netdev,
                                                               DaemonResources& resources,
                                                               const BackendRequest& request);
QmpResult<std::unique_ptr<Backend>> create_backend(const qapi::Netdev& netdev, DaemonResources& resources,
                                                   const BackendRequest& request);

// What the daemon lends backends: shared objects that outlive every netdev.
struct DaemonResources {
  HubSet& hubs;
  TeardownQueue& teardown;
  rtnl::Rtnl& rtnl;
  const bridge::BridgeAcl& bridge_acl;
  // A directory on a bpffs for NICs' pinned maps ("" when nothing is pinned).
  std::string bpf_pin_root = "";
  // The userspace datapath (socket netdevs); null where there is none.
  datapath::FrameLoop* frames = nullptr;
  // Which scripts, helpers, plugins and directories clients may use.
  ProgramPolicy programs = {};
  // What builds backends: create_backend(); the fuzz targets put one here
  // that makes no kernel object.
  BackendFactory make_backend = create_backend;
  // A directory on a bpffs for NICs' pinned anti-spoof maps ("" for none).
  std::string anti_spoof_pin_root = "";
  // The kernel's l2tp family and vnetd's tunnel ids (null: l2tpv3 netdevs
  // stay in userspace).
  l2tpv3::KernelTunnels* l2tp_tunnels = nullptr;
  // Removes netdevs whose namespace (netns=) goes (null: nothing watches).
  NetnsWatch* netns_watch = nullptr;
};

}  // namespace vnet
