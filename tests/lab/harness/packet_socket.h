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
  static Result<PacketSocket> open(const std::string& ifname);

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
