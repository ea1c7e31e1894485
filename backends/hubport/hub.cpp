#include "backends/hubport/hub.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "kernel_ifaces/log.h"

namespace vnet {

HubPort::HubPort(HubSet& hubs, int32_t hubid, std::string port_id, bool kernel_forwarding)
    : hubs_(hubs), hubid_(hubid), port_id_(std::move(port_id)), kernel_forwarding_(kernel_forwarding) {}

HubPort::~HubPort() { hubs_.remove_port(hubid_, this); }

// The hub's ports are the hub's (query-hubs): listing them here would make
// every port's details, and query-netdevs, grow with the hub. The counts
// add what the kernel forwarded for this port to what vnetd did.
std::vector<Detail> HubPort::details() const {
  ebpf::HubPortCounters kernel = hubs_.kernel_counters(hubid_, *this);
  std::vector<Detail> out{
      Detail{"frames-in", static_cast<int64_t>(frames_in_ + kernel.frames_in)},
      Detail{"frames-out", static_cast<int64_t>(frames_out_ + kernel.frames_out)},
      Detail{"drops", static_cast<int64_t>(drops_ + kernel.drops)},
      Detail{"loop-drops", static_cast<int64_t>(loop_drops_)},
      Detail{"forwarding", hubs_.forwarding(hubid_)}};
  if (auto why = hubs_.userspace_reason(hubid_); !why.empty()) out.push_back({"userspace-reason", why});
  return out;
}

Result<void> HubPort::send_from_guest(std::span<const uint8_t> frame) {
  // Hubs peered with hubs can form a loop, in which a frame would circle for
  // ever (QEMU's queues make that a storm); a frame crosses a few hubs at most.
  constexpr int kMaxHubHops = 4;
  static thread_local int hops = 0;
  if (hops >= kMaxHubHops) {
    loop_drops_++;
    return Error{ELOOP, "hub " + std::to_string(hubid_) + ": a frame came back through a loop of hubs"};
  }
  struct Hop {
    Hop() { hops++; }
    ~Hop() { hops--; }
  } hop;
  frames_in_++;
  hubs_.flood(*this, frame);
  return {};
}

Result<void> HubPort::peer_connected(Backend& peer) {
  hubs_.change_port(*this, [&] { peer_ = &peer; });
  return {};
}

void HubPort::peer_disconnected(Backend&) {
  hubs_.change_port(*this, [&] {
    peer_ = nullptr;
    hubs_.leave_forwarder(hubid_, *this);
    kernel_path_.reset();
  });
}

void HubPort::peer_kernel_path_ready(const KernelPath& path) {
  if (kernel_path_ && in_forwarder_ && kernel_path_->ifindex == path.ifindex) {
    // The same device, its guest's filter changed.
    kernel_path_ = path;
    hubs_.set_port_unicast(hubid_, path);
    return;
  }
  hubs_.change_port(*this, [&] { kernel_path_ = path; });
}

void HubPort::peer_kernel_path_gone() { leave_kernel_path(); }

void HubPort::keep_on_exit() { hubs_.keep_on_exit(hubid_); }

void HubPort::leave_kernel_path() {
  // Out of the forwarder while its socket is still open, then the mode.
  hubs_.change_port(*this, [&] {
    hubs_.leave_forwarder(hubid_, *this);
    kernel_path_.reset();
  });
}

std::unique_ptr<HubPort> HubSet::add_port(int32_t hubid, const std::string& port_id, bool kernel_forwarding) {
  auto port = std::make_unique<HubPort>(*this, hubid, port_id, kernel_forwarding);
  Hub& hub = hubs_[hubid];
  port->joined_ = ++joins_;
  port->place_ = hub.ports.insert(hub.ports.end(), port.get());
  count(hub, *port, true);
  refresh(hubid);
  return port;
}

void HubSet::count(Hub& hub, HubPort& port, bool in) {
  auto key = std::make_pair(port.joined_, &port);
  auto mark = [&](PortSet& set, bool member) {
    if (!member) return;
    if (in) set.insert(key);
    else set.erase(key);
  };
  if (port.kernel_path_) in ? hub.devices++ : hub.devices--;
  mark(hub.forced_userspace, !port.kernel_forwarding_);
  mark(hub.carried_by_vnetd, port.peer_ && !port.kernel_path_);
  mark(hub.pending, port.kernel_path_ && !port.in_forwarder_);
}

template <typename Change>
void HubSet::change_port(HubPort& port, Change&& change) {
  auto it = hubs_.find(port.hubid_);
  if (it == hubs_.end()) return change();
  count(it->second, port, false);
  change();
  count(it->second, port, true);
  refresh(port.hubid_);
}

void HubSet::flood(const HubPort& from, std::span<const uint8_t> frame) {
  auto it = hubs_.find(from.hubid_);
  if (it == hubs_.end()) return;
  for (HubPort* port : it->second.ports) {
    if (port == &from) continue;
    // A port without a peer, or whose peer refuses, drops the frame (QEMU's
    // hub does the same); the others still get it.
    if (!port->peer_) continue;
    if (port->peer_->send_from_guest(frame)) port->frames_out_++;
    else port->drops_++;
  }
}

void HubSet::set_port_unicast(int32_t hubid, const Backend::KernelPath& path) {
  auto it = hubs_.find(hubid);
  if (it != hubs_.end() && it->second.forwarder) it->second.forwarder->set_port_unicast(path.ifindex, path.only_unicast_to);
}

void HubSet::keep_on_exit(int32_t hubid) {
  auto it = hubs_.find(hubid);
  if (it == hubs_.end()) return;
  it->second.keep = true;
  if (it->second.forwarder) it->second.forwarder->keep_on_exit();
}

std::vector<std::string> HubSet::ports(int32_t hubid) const {
  std::vector<std::string> ids;
  if (auto it = hubs_.find(hubid); it != hubs_.end()) {
    for (const HubPort* port : it->second.ports) ids.push_back(port->port_id_);
  }
  return ids;
}

void HubSet::remove_port(int32_t hubid, HubPort* port) {
  auto it = hubs_.find(hubid);
  if (it == hubs_.end()) return;
  auto& ports = it->second.ports;
  count(it->second, *port, false);
  leave_forwarder(hubid, *port);
  ports.erase(port->place_);
  if (ports.empty()) {
    hubs_.erase(it);
    return;
  }
  refresh(hubid);
}

std::vector<int32_t> HubSet::hub_ids() const {
  std::vector<int32_t> out;
  for (const auto& [hubid, hub] : hubs_) {
    if (!hub.ports.empty()) out.push_back(hubid);
  }
  return out;
}

std::string HubSet::forwarding(int32_t hubid) const {
  auto it = hubs_.find(hubid);
  bool kernel = it != hubs_.end() && it->second.forwarder && it->second.forwarder->kernel();
  return kernel ? "kernel" : "userspace";
}

std::string HubSet::userspace_reason(int32_t hubid) const {
  auto it = hubs_.find(hubid);
  return it == hubs_.end() ? "" : it->second.userspace_reason;
}

void HubSet::leave_forwarder(int32_t hubid, HubPort& port) {
  auto it = hubs_.find(hubid);
  // A kept hub stays as it is in the kernel, for the next daemon.
  if (!port.in_forwarder_ || it == hubs_.end() || !it->second.forwarder || !port.kernel_path_ || it->second.keep) {
    port.in_forwarder_ = false;
    return;
  }
  port.kernel_before_ += it->second.forwarder->remove_port(port.kernel_path_->ifindex);
  port.in_forwarder_ = false;
}

ebpf::HubPortCounters HubSet::kernel_counters(int32_t hubid, const HubPort& port) const {
  ebpf::HubPortCounters out = port.kernel_before_;
  auto it = hubs_.find(hubid);
  if (it == hubs_.end() || !it->second.forwarder || !port.in_forwarder_ || !port.kernel_path_) return out;
  return out += it->second.forwarder->counters(port.kernel_path_->ifindex);
}

std::string HubSet::pin_dir(int32_t hubid) const {
  return pin_root_.empty() ? "" : pin_root_ + "/hub_" + std::to_string(hubid);
}

void HubSet::end_restore() {
  restoring_ = false;
  for (auto& [hubid, hub] : hubs_) {
    if (hub.forwarder) hub.forwarder->remove_unclaimed_ports();
    refresh(hubid);
  }
  if (pin_root_.empty()) return;
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(pin_root_, ec)) {
    std::string name = dir.path().filename().string();
    bool claimed = false;
    for (const auto& [hubid, hub] : hubs_) claimed |= hub.forwarder && dir.path().string() == pin_dir(hubid);
    if (claimed) continue;
    ebpf::HubForwarder::remove_pins(dir.path().string());
    log::info("removed the pinned forwarder of " + name + ", a hub the state does not have");
  }
}

void HubSet::refresh(int32_t hubid) {
  auto it = hubs_.find(hubid);
  if (it == hubs_.end()) return;
  Hub& hub = it->second;
  if (hub.keep) return;
  std::string reason;
  if (!hub.forced_userspace.empty()) {
    reason = "port '" + hub.forced_userspace.begin()->second->port_id_ + "' has kernel-forwarding=false";
  } else if (!hub.carried_by_vnetd.empty()) {
    reason = "port '" + hub.carried_by_vnetd.begin()->second->port_id_ +
             "' is joined to a netdev whose frames vnetd carries";
  }
  const size_t devices = hub.devices;
  if (devices == 0) {
    if (restoring_) return;  // its NICs are still to come
    hub.forwarder.reset();
    hub.userspace_reason = reason.empty() ? "no port has a kernel device" : reason;
    return;
  }
  if (devices > ebpf::HubForwarder::kMaxPorts && reason.empty()) {
    reason = "more than " + std::to_string(ebpf::HubForwarder::kMaxPorts) + " kernel devices";
  }
  if (!hub.forwarder) {
    auto loaded = ebpf::HubForwarder::load(pin_dir(hubid));
    if (!loaded) {
      hub.userspace_reason = "the kernel forwarder: " + loaded.error().message;
      log::warning("hub " + std::to_string(hubid) + ": " + hub.userspace_reason);
      return;
    }
    hub.forwarder = std::move(loaded.value());
  }
  // Userspace first when leaving the kernel: the ports' sockets take the
  // frames from the next one on. A restoring hub keeps its pinned mode.
  if (!reason.empty() && !restoring_) hub.forwarder->set_kernel(false);
  for (auto next = hub.pending.begin(); next != hub.pending.end();) {
    HubPort* port = next->second;
    const Backend::KernelPath& path = *port->kernel_path_;
    auto added = hub.forwarder->add_port(path.ifindex, path.host_side_socket, path.host_facing, path.only_unicast_to);
    if (!added) {
      if (reason.empty()) reason = "port '" + port->port_id_ + "': " + added.error().message;
      log::warning("hub " + std::to_string(hubid) + ": " + added.error().message);
      ++next;
      continue;
    }
    port->in_forwarder_ = true;
    next = hub.pending.erase(next);
  }
  hub.userspace_reason = reason;
  if (restoring_) return;
  if (reason.empty()) hub.forwarder->set_kernel(true);
}

}  // namespace vnet
