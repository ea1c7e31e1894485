// Hubs join netdevs as QEMU's net/hub.c does: a frame entering one port is
// flooded to every other port of the same hub. A hub exists while it has
// ports. (The datapath that moves frames lives with the userspace ports.)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace vnet {

class HubSet;

class HubPort : public Backend {
 public:
  HubPort(HubSet& hubs, int32_t hubid, std::string port_id);
  ~HubPort() override;
  HubPort(const HubPort&) = delete;
  HubPort& operator=(const HubPort&) = delete;

  int32_t hubid() const { return hubid_; }
  std::vector<Detail> details() const override;

 private:
  HubSet& hubs_;
  int32_t hubid_;
  std::string port_id_;
};

class HubSet {
 public:
  // Joins port_id to hub hubid, creating the hub on first use.
  std::unique_ptr<HubPort> add_port(int32_t hubid, const std::string& port_id);
  // The ids of the hub's ports, in the order they joined.
  std::vector<std::string> ports(int32_t hubid) const;

 private:
  friend class HubPort;
  void remove_port(int32_t hubid, const std::string& port_id);

  std::map<int32_t, std::vector<std::string>> hubs_;
};

}  // namespace vnet
