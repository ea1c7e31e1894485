// AntiSpoofProgram - one loaded anti_spoof.bpf.c (its own maps) for one NIC:
// writes the NIC's MAC, mode and allowed prefixes into the maps and reads
// the per-reason drop counters. Attaching it is TcIngressFilter's job (tc
// ingress) or XdpLink's (generic XDP).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ebpf/rx_filter_program.h"  // Mac
#include "kernel_ifaces/result.h"

struct anti_spoof;  // the bpftool skeleton

namespace vnet::ebpf {

// An IPv4 or IPv6 prefix; addr holds 4 or 16 bytes in network order, the
// bits past length zero.
struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  uint8_t length = 0;
  bool operator==(const IpPrefix&) const = default;
};

struct AntiSpoofSettings {
  Mac mac{};
  bool drop_other = false;  // frames neither IP nor ARP
  std::vector<IpPrefix> allowed;
};

// Frames dropped per reason, and passed (anti_spoof.h's enum, in order).
struct AntiSpoofCounters {
  uint64_t bad_mac = 0, bad_arp = 0, bad_ipv4 = 0, bad_ipv6 = 0, bad_na = 0, other = 0, passed = 0;
  uint64_t drops() const { return bad_mac + bad_arp + bad_ipv4 + bad_ipv6 + bad_na + other; }
};

class AntiSpoofProgram {
 public:
  // Pinned under pin_dir when it is not "" (made if missing, on a bpffs):
  // maps already pinned there are re-adopted with their prefixes and
  // counters, so a restarted daemon carries on; adopted() says so.
  static Result<std::unique_ptr<AntiSpoofProgram>> load(const std::string& pin_dir);
  bool adopted() const { return adopted_; }
  // Removes the pins (anti-spoofing is off, or the NIC is gone).
  void unpin();
  ~AntiSpoofProgram();
  AntiSpoofProgram(const AntiSpoofProgram&) = delete;
  AntiSpoofProgram& operator=(const AntiSpoofProgram&) = delete;

  int prog_fd() const;      // for tc ingress
  int xdp_prog_fd() const;  // for generic XDP; same maps
  // New prefixes go in before old ones go out, so an address kept in both
  // never fails a frame in between.
  Result<void> apply(const AntiSpoofSettings& settings);
  Result<AntiSpoofCounters> counters() const;

 private:
  explicit AntiSpoofProgram(anti_spoof* skeleton) : skeleton_(skeleton) {}

  anti_spoof* skeleton_;
  std::string pin_dir_;
  bool adopted_ = false;
};

}  // namespace vnet::ebpf
