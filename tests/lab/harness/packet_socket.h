// PacketSocket - an AF_PACKET socket on one device: the "network" side of a
// tap, where frames a VMM transmits arrive and where frames for it are sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::lab {

class PacketSocket {
 public:
  // protocol: ETH_P_ALL sees every frame, and sees a frame the device
  // receives before its tc ingress runs; one ethertype (ETH_P_IP) sees only
  // what tc ingress let through (ptype_base handlers run after it).
  static Result<PacketSocket> open(const std::string& ifname, uint16_t protocol = 0x0003 /* ETH_P_ALL */);

  // Transmits frame on the device (for a tap: towards its queues' readers).
  Result<void> send(const std::vector<uint8_t>& frame);
  // The next frame the device received (frames it sent are skipped), or
  // nullopt after timeout.
  Result<std::optional<std::vector<uint8_t>>> receive(std::chrono::milliseconds timeout);

 private:
  PacketSocket(UniqueFd fd, int ifindex) : fd_(std::move(fd)), ifindex_(ifindex) {}
  UniqueFd fd_;
  int ifindex_;
};

}  // namespace vnet::lab
