#include "backends/hubport/hub.h"

#include <algorithm>

namespace vnet {

HubPort::HubPort(HubSet& hubs, int32_t hubid, std::string port_id)
    : hubs_(hubs), hubid_(hubid), port_id_(std::move(port_id)) {}

HubPort::~HubPort() { hubs_.remove_port(hubid_, port_id_); }

std::vector<Detail> HubPort::details() const {
  std::vector<std::string> others;
  for (const auto& port : hubs_.ports(hubid_)) {
    if (port != port_id_) others.push_back(port);
  }
  return {Detail{"hub-ports", std::move(others)}};
}

std::unique_ptr<HubPort> HubSet::add_port(int32_t hubid, const std::string& port_id) {
  hubs_[hubid].push_back(port_id);
  return std::make_unique<HubPort>(*this, hubid, port_id);
}

std::vector<std::string> HubSet::ports(int32_t hubid) const {
  auto it = hubs_.find(hubid);
  return it == hubs_.end() ? std::vector<std::string>{} : it->second;
}

void HubSet::remove_port(int32_t hubid, const std::string& port_id) {
  auto it = hubs_.find(hubid);
  if (it == hubs_.end()) return;
  auto& ports = it->second;
  ports.erase(std::remove(ports.begin(), ports.end(), port_id), ports.end());
  if (ports.empty()) hubs_.erase(it);
}

}  // namespace vnet
