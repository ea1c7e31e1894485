// Hubs join netdevs as QEMU's net/hub.c does: a frame entering one port is
// flooded to every other port of the same hub. A hub exists while it has
// ports. In userspace the flood runs here (the datapath that moves frames
// lives with the userspace ports); a hub whose ports are all kernel devices
// (NICs' own taps) is forwarded by the kernel instead (ebpf/hub_forwarder.h),
// and moves back to userspace when a port that needs vnetd joins.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "ebpf/hub_forwarder.h"

namespace vnet {

class HubSet;

class HubPort : public Backend {
 public:
  // kernel_forwarding false: the port keeps its hub in userspace.
  HubPort(HubSet& hubs, int32_t hubid, std::string port_id, bool kernel_forwarding = true);
  ~HubPort() override;
  HubPort(const HubPort&) = delete;
  HubPort& operator=(const HubPort&) = delete;

  int32_t hubid() const { return hubid_; }
  std::vector<Detail> details() const override;

  // QEMU's net/hub.c: a frame this port's peer hands it is flooded to every
  // other port of the hub, each passing it on to its own peer.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  Result<void> peer_connected(Backend& peer) override;
  void peer_disconnected(Backend& peer) override;
  void peer_kernel_path_ready(const KernelPath& path) override;
  void peer_kernel_path_gone() override;
  void keep_on_exit() override;
  uint64_t frames_in() const { return frames_in_; }

 private:
  friend class HubSet;
  void leave_kernel_path();

  HubSet& hubs_;
  int32_t hubid_;
  std::string port_id_;
  uint64_t joined_ = 0;                   // its place in the hub's join order
  std::list<HubPort*>::iterator place_;  // in the hub's ports
  bool kernel_forwarding_;
  Backend* peer_ = nullptr;
  std::optional<KernelPath> kernel_path_;  // the peer's device, while it has one
  bool in_forwarder_ = false;              // kernel_path_'s device is a port of the hub's forwarder
  uint64_t frames_in_ = 0;   // from this port's peer into the hub
  uint64_t frames_out_ = 0;  // out of this port to its peer
  uint64_t drops_ = 0;       // out of this port, refused by its peer
  uint64_t loop_drops_ = 0;  // into this port, after circling a loop of hubs
  ebpf::HubPortCounters kernel_before_;  // counted by forwarders it has left
};

class HubSet {
 public:
  // Joins port_id to hub hubid, creating the hub on first use.
  std::unique_ptr<HubPort> add_port(int32_t hubid, const std::string& port_id, bool kernel_forwarding = true);
  // The ids of the hub's ports, in the order they joined.
  std::vector<std::string> ports(int32_t hubid) const;
  // Every hub that has ports, by id.
  std::vector<int32_t> hub_ids() const;
  // "kernel" or "userspace", and why not the kernel ("" when it is).
  std::string forwarding(int32_t hubid) const;
  std::string userspace_reason(int32_t hubid) const;

  // Where each hub's forwarder pins its maps and links (a directory on a
  // bpffs; "" pins nothing), so that the kernel goes on forwarding while no
  // vnetd runs and a restarted one re-adopts it.
  void set_pin_root(std::string root) { pin_root_ = std::move(root); }
  // While a restarted daemon re-adds its netdevs, hubs keep the mode their
  // pinned forwarders have; once done, ports and hubs nobody re-added are
  // removed from the kernel, and every hub's mode follows its ports again.
  void begin_restore() { restoring_ = true; }
  void end_restore();

 private:
  friend class HubPort;
  // Ports in join order, for the first one that explains the mode.
  using PortSet = std::set<std::pair<uint64_t, HubPort*>>;
  struct Hub {
    std::list<HubPort*> ports;  // in the order they joined
    // What decides the mode, kept up as ports change, so that a change costs
    // the same whatever the hub's size: how many ports have a kernel device;
    // those that keep the hub in userspace (kernel-forwarding=false, or a
    // peer vnetd carries); those whose device is not in the forwarder yet.
    size_t devices = 0;
    PortSet forced_userspace, carried_by_vnetd, pending;
    std::unique_ptr<ebpf::HubForwarder> forwarder;  // while a port has a kernel device
    std::string userspace_reason;                   // "" while the kernel forwards
    bool keep = false;                              // the daemon stops, leaving it forwarding
  };
  std::string pin_dir(int32_t hubid) const;
  void remove_port(int32_t hubid, HubPort* port);
  // QEMU's net/hub.c: to every other port's peer.
  void flood(const HubPort& from, std::span<const uint8_t> frame);
  // A port's guest takes other unicast frames now: told to the forwarder.
  void set_port_unicast(int32_t hubid, const Backend::KernelPath& path);
  // The daemon stops leaving the hub's forwarder in the kernel.
  void keep_on_exit(int32_t hubid);
  // Changes a port's state (its peer, device, place in the forwarder), the
  // hub's counts following, then brings the hub in line.
  template <typename Change>
  void change_port(HubPort& port, Change&& change);
  void count(Hub& hub, HubPort& port, bool in);
  // Brings the hub's forwarder in line with its ports: devices joined or
  // left, and the mode (kernel when every port with a peer has a device).
  void refresh(int32_t hubid);
  // Takes the port's device out of the hub's forwarder, keeping its counts.
  void leave_forwarder(int32_t hubid, HubPort& port);
  ebpf::HubPortCounters kernel_counters(int32_t hubid, const HubPort& port) const;

  std::map<int32_t, Hub> hubs_;
  uint64_t joins_ = 0;
  std::string pin_root_;
  bool restoring_ = false;
};

}  // namespace vnet
