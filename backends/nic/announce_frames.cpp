#include "backends/nic/announce_frames.h"

#include <algorithm>

namespace vnet::nic {

namespace {

constexpr size_t kEthMinFrame = 60;      // ETH_ZLEN: shorter frames are padded
constexpr uint16_t kEthPRarp = 0x8035;   // ETH_P_RARP
constexpr uint16_t kEthPIp = 0x0800;     // ETH_P_IP, the protocol being resolved
constexpr uint16_t kArpHrdEther = 1;     // ARPHRD_ETHER
constexpr uint16_t kArpOpRequestReverse = 3;  // ARPOP_RREQUEST

void put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void put_mac(std::vector<uint8_t>& out, const ebpf::Mac& mac) { out.insert(out.end(), mac.begin(), mac.end()); }

}  // namespace

std::vector<uint8_t> rarp_announce(const ebpf::Mac& mac) {
  std::vector<uint8_t> frame;
  frame.reserve(kEthMinFrame);
  frame.insert(frame.end(), 6, 0xff);  // broadcast
  put_mac(frame, mac);
  put16(frame, kEthPRarp);
  put16(frame, kArpHrdEther);
  put16(frame, kEthPIp);
  frame.push_back(6);  // hardware address length
  frame.push_back(4);  // protocol address length
  put16(frame, kArpOpRequestReverse);
  put_mac(frame, mac);
  frame.insert(frame.end(), 4, 0);  // sender IP
  put_mac(frame, mac);
  frame.insert(frame.end(), 4, 0);  // target IP
  frame.resize(std::max(frame.size(), kEthMinFrame), 0);
  return frame;
}

}  // namespace vnet::nic
