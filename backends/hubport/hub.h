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

  // QEMU's net/hub.c: a frame this port's peer hands it is flooded to every
  // other port of the hub, each passing it on to its own peer.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  Result<void> peer_connected(Backend& peer) override {
    peer_ = &peer;
    return {};
  }
  void peer_disconnected(Backend&) override { peer_ = nullptr; }
  uint64_t frames_in() const { return frames_in_; }

 private:
  friend class HubSet;
  HubSet& hubs_;
  int32_t hubid_;
  std::string port_id_;
  Backend* peer_ = nullptr;
  uint64_t frames_in_ = 0;   // from this port's peer into the hub
  uint64_t frames_out_ = 0;  // out of this port to its peer
  uint64_t drops_ = 0;       // out of this port, refused by its peer
  uint64_t loop_drops_ = 0;  // into this port, after circling a loop of hubs
};

class HubSet {
 public:
  // Joins port_id to hub hubid, creating the hub on first use.
  std::unique_ptr<HubPort> add_port(int32_t hubid, const std::string& port_id);
  // The ids of the hub's ports, in the order they joined.
  std::vector<std::string> ports(int32_t hubid) const;
  // Every hub that has ports, by id.
  std::vector<int32_t> hub_ids() const;

 private:
  friend class HubPort;
  void remove_port(int32_t hubid, const HubPort* port);

  std::map<int32_t, std::vector<HubPort*>> hubs_;
};

}  // namespace vnet
