// UserspacePort - what every netdev whose frames vnetd carries has in common:
// its peer (a hub port, a NIC...), and handing a frame it received to that
// peer, counted (frames-in, bytes-in, drops-no-peer).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/backend.h"

namespace vnet::datapath {

class UserspacePort : public Backend {
 public:
  Result<void> peer_connected(Backend& peer) override {
    peer_ = &peer;
    return {};
  }
  void peer_disconnected(Backend&) override { peer_ = nullptr; }

 protected:
  // A frame that came in from the outside goes to the peer (valid until the
  // frame loop's batch ends, as the peer may send it on by reference).
  void deliver(std::span<const uint8_t> frame) {
    frames_in_++;
    bytes_in_ += frame.size();
    if (!peer_) {
      drops_no_peer_++;
      return;
    }
    (void)peer_->send_from_guest(frame);
  }
  void append_inbound_details(std::vector<Detail>& out) const {
    out.push_back({"frames-in", static_cast<int64_t>(frames_in_)});
    out.push_back({"bytes-in", static_cast<int64_t>(bytes_in_)});
    out.push_back({"drops-no-peer", static_cast<int64_t>(drops_no_peer_)});
  }

 private:
  Backend* peer_ = nullptr;
  uint64_t frames_in_ = 0, bytes_in_ = 0, drops_no_peer_ = 0;
};

}  // namespace vnet::datapath
