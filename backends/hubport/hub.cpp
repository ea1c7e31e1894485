#include "backends/hubport/hub.h"

#include <algorithm>
#include <cerrno>

namespace vnet {

HubPort::HubPort(HubSet& hubs, int32_t hubid, std::string port_id)
    : hubs_(hubs), hubid_(hubid), port_id_(std::move(port_id)) {}

HubPort::~HubPort() { hubs_.remove_port(hubid_, this); }

// The hub's ports are the hub's (query-hubs): listing them here would make
// every port's details, and query-netdevs, grow with the hub.
std::vector<Detail> HubPort::details() const {
  return {Detail{"frames-in", static_cast<int64_t>(frames_in_)},
          Detail{"frames-out", static_cast<int64_t>(frames_out_)}, Detail{"drops", static_cast<int64_t>(drops_)},
          Detail{"loop-drops", static_cast<int64_t>(loop_drops_)}};
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
  auto it = hubs_.hubs_.find(hubid_);
  if (it == hubs_.hubs_.end()) return {};
  for (HubPort* port : it->second) {
    if (port == this) continue;
    // A port without a peer, or whose peer refuses, drops the frame (QEMU's
    // hub does the same); the others still get it.
    if (!port->peer_) continue;
    if (port->peer_->send_from_guest(frame)) port->frames_out_++;
    else port->drops_++;
  }
  return {};
}

std::unique_ptr<HubPort> HubSet::add_port(int32_t hubid, const std::string& port_id) {
  auto port = std::make_unique<HubPort>(*this, hubid, port_id);
  hubs_[hubid].push_back(port.get());
  return port;
}

std::vector<std::string> HubSet::ports(int32_t hubid) const {
  std::vector<std::string> ids;
  if (auto it = hubs_.find(hubid); it != hubs_.end()) {
    for (const HubPort* port : it->second) ids.push_back(port->port_id_);
  }
  return ids;
}

void HubSet::remove_port(int32_t hubid, const HubPort* port) {
  auto it = hubs_.find(hubid);
  if (it == hubs_.end()) return;
  auto& ports = it->second;
  ports.erase(std::remove(ports.begin(), ports.end(), port), ports.end());
  if (ports.empty()) hubs_.erase(it);
}

std::vector<int32_t> HubSet::hub_ids() const {
  std::vector<int32_t> out;
  for (const auto& [hubid, ports] : hubs_) {
    if (!ports.empty()) out.push_back(hubid);
  }
  return out;
}

}  // namespace vnet
