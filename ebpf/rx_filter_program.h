// RxFilterProgram - one loaded rx_filter.bpf.c (its own maps) for one NIC:
// writes the guest's filter into the maps atomically, reads it back, and
// reads the pass/drop counters. Attaching it to a tap is tun::set_filter_ebpf.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"

struct rx_filter;          // the bpftool skeleton
struct rx_filter_mac_key;  // ebpf/rx_filter.h

namespace vnet::ebpf {

enum class RxMode { normal, none, all };
using Mac = std::array<uint8_t, 6>;

// A NIC's receive filter, as RxFilterInfo describes it.
struct RxFilterState {
  bool promiscuous = true;
  RxMode unicast = RxMode::normal;
  RxMode multicast = RxMode::normal;
  RxMode vlan = RxMode::all;
  bool broadcast_allowed = false;
  bool unicast_overflow = false;
  bool multicast_overflow = false;
  Mac main_mac{};
  std::vector<Mac> unicast_table;
  std::vector<Mac> multicast_table;
  std::vector<uint16_t> vlan_table;  // ids whose tagged frames pass
};

struct RxFilterCounters {
  uint64_t passed = 0;
  uint64_t dropped = 0;
};

class RxFilterProgram {
 public:
  static Result<std::unique_ptr<RxFilterProgram>> load();
  // Pinned under pin_dir (a directory on a bpffs, made if missing): maps
  // already pinned there are re-adopted with what they hold, so a restarted
  // daemon carries on with the same filter and counters; adopted() says so.
  static Result<std::unique_ptr<RxFilterProgram>> load_pinned(const std::string& pin_dir);
  bool adopted() const { return adopted_; }
  // Removes the pins (the NIC is gone for good).
  void unpin();
  ~RxFilterProgram();
  RxFilterProgram(const RxFilterProgram&) = delete;
  RxFilterProgram& operator=(const RxFilterProgram&) = delete;

  int prog_fd() const;
  // Writes the inactive config slot and its MAC table, then flips to it: a
  // frame sees the old filter or the new one, never a mix.
  Result<void> apply(const RxFilterState& state);
  Result<RxFilterState> read() const;
  Result<RxFilterCounters> counters() const;

 private:
  explicit RxFilterProgram(rx_filter* skeleton) : skeleton_(skeleton) {}
  Result<uint32_t> current_slot() const;
  Result<void> clear_mac_slot(uint32_t slot);
  std::vector<rx_filter_mac_key> mac_keys(uint32_t slot) const;  // the MAC table's keys of one slot

  rx_filter* skeleton_;
  std::string pin_dir_;
  bool adopted_ = false;
};

}  // namespace vnet::ebpf
