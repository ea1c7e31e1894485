#include "ebpf/rx_filter_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ebpf/bpf_error.h"
#include "ebpf/pinned_maps.h"
#include "kernel_ifaces/unique_fd.h"
#include "rx_filter.h"
#include "rx_filter.skel.h"

namespace vnet::ebpf {

namespace {

uint8_t mode_value(RxMode mode) {
  return mode == RxMode::none ? RX_MODE_NONE : mode == RxMode::all ? RX_MODE_ALL : RX_MODE_NORMAL;
}

RxMode mode_of(uint8_t value) {
  return value == RX_MODE_NONE ? RxMode::none : value == RX_MODE_ALL ? RxMode::all : RxMode::normal;
}

}  // namespace

Result<std::unique_ptr<RxFilterProgram>> RxFilterProgram::load() {
  rx_filter* skeleton = rx_filter__open_and_load();
  if (!skeleton) return errno_error("loading the rx_filter BPF program");
  std::unique_ptr<RxFilterProgram> program(new RxFilterProgram(skeleton));
  if (auto applied = program->apply(RxFilterState{}); !applied) return applied.take_error();
  return program;
}

Result<std::unique_ptr<RxFilterProgram>> RxFilterProgram::load_pinned(const std::string& pin_dir) {
  if (mkdir(pin_dir.c_str(), 0700) < 0 && errno != EEXIST) return errno_error("mkdir " + pin_dir);
  rx_filter* skeleton = rx_filter__open();
  if (!skeleton) return errno_error("opening the rx_filter BPF object");
  std::unique_ptr<RxFilterProgram> program(new RxFilterProgram(skeleton));
  program->pin_dir_ = pin_dir;
  bpf_map* maps[] = {skeleton->maps.config, skeleton->maps.current_slot, skeleton->maps.mac_table,
                     skeleton->maps.counters};
  auto adopted = reuse_pinned_maps(pin_dir, maps);
  if (!adopted) return adopted.take_error();
  program->adopted_ = *adopted;
  if (int err = rx_filter__load(skeleton)) return bpf_error(err, "loading the rx_filter BPF program");
  if (!program->adopted_) {
    if (auto applied = program->apply(RxFilterState{}); !applied) return applied.take_error();
    if (auto pinned = pin_maps(pin_dir, maps); !pinned) return pinned.take_error();
  }
  // The program too, so that what is attached to the tap can be found; a
  // new instance over the same maps replaces the old pin.
  std::string prog_path = pin_dir + "/prog";
  unlink(prog_path.c_str());
  if (int err = bpf_program__pin(skeleton->progs.rx_filter, prog_path.c_str())) {
    return bpf_error(err, "pinning " + prog_path);
  }
  return program;
}

void RxFilterProgram::unpin() {
  if (pin_dir_.empty()) return;
  for (const char* name : {"config", "current_slot", "mac_table", "counters", "prog"}) {
    unlink((pin_dir_ + "/" + name).c_str());
  }
  rmdir(pin_dir_.c_str());
  pin_dir_.clear();
}

RxFilterProgram::~RxFilterProgram() { rx_filter__destroy(skeleton_); }

int RxFilterProgram::prog_fd() const { return bpf_program__fd(skeleton_->progs.rx_filter); }

Result<uint32_t> RxFilterProgram::current_slot() const {
  uint32_t zero = 0, slot = 0;
  if (int err = bpf_map__lookup_elem(skeleton_->maps.current_slot, &zero, sizeof(zero), &slot, sizeof(slot), 0)) {
    return bpf_error(err, "reading rx_filter current_slot");
  }
  return slot & 1;
}

std::vector<rx_filter_mac_key> RxFilterProgram::mac_keys(uint32_t slot) const {
  std::vector<rx_filter_mac_key> keys;
  rx_filter_mac_key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map__get_next_key(skeleton_->maps.mac_table, previous, &next, sizeof(next)) == 0) {
    if (next.slot == slot) keys.push_back(next);
    key = next;
    previous = &key;
  }
  return keys;
}

Result<void> RxFilterProgram::clear_mac_slot(uint32_t slot) {
  bpf_map* table = skeleton_->maps.mac_table;
  for (const auto& k : mac_keys(slot)) {
    if (int err = bpf_map__delete_elem(table, &k, sizeof(k), 0); err && err != -ENOENT) {
      return bpf_error(err, "deleting from rx_filter mac_table");
    }
  }
  return {};
}

Result<void> RxFilterProgram::apply(const RxFilterState& state) {
  if (state.unicast_table.size() + state.multicast_table.size() > RX_FILTER_MAX_MACS) {
    return Error{EINVAL, "rx filter: more than 64 MAC table entries"};
  }
  auto current = current_slot();
  if (!current) return current.take_error();
  uint32_t slot = *current ^ 1;

  rx_filter_config config{};
  config.promiscuous = state.promiscuous;
  config.broadcast_allowed = state.broadcast_allowed;
  config.unicast_mode = mode_value(state.unicast);
  config.multicast_mode = mode_value(state.multicast);
  config.vlan_mode = mode_value(state.vlan);
  config.unicast_overflow = state.unicast_overflow;
  config.multicast_overflow = state.multicast_overflow;
  config.layout_version = RX_FILTER_LAYOUT_VERSION;
  std::memcpy(config.main_mac, state.main_mac.data(), 6);
  for (uint16_t vid : state.vlan_table) {
    if (vid >= RX_FILTER_MAX_VLAN) return Error{EINVAL, "rx filter: VLAN id " + std::to_string(vid) + " over 4095"};
    config.vlans[vid / 32] |= 1u << (vid % 32);
  }

  if (auto cleared = clear_mac_slot(slot); !cleared) return cleared;
  // The value keeps each MAC's position in its table, so read() keeps order.
  auto insert = [&](const std::vector<Mac>& table) -> Result<void> {
    for (size_t i = 0; i < table.size(); i++) {
      rx_filter_mac_key key{};
      std::memcpy(key.mac, table[i].data(), 6);
      key.slot = static_cast<uint8_t>(slot);
      uint8_t position = static_cast<uint8_t>(i);
      if (int err = bpf_map__update_elem(skeleton_->maps.mac_table, &key, sizeof(key), &position, 1, BPF_ANY)) {
        return bpf_error(err, "writing rx_filter mac_table");
      }
    }
    return {};
  };
  if (auto done = insert(state.unicast_table); !done) return done;
  if (auto done = insert(state.multicast_table); !done) return done;
  if (int err = bpf_map__update_elem(skeleton_->maps.config, &slot, sizeof(slot), &config, sizeof(config), BPF_ANY)) {
    return bpf_error(err, "writing rx_filter config");
  }
  uint32_t zero = 0;
  if (int err = bpf_map__update_elem(skeleton_->maps.current_slot, &zero, sizeof(zero), &slot, sizeof(slot), BPF_ANY)) {
    return bpf_error(err, "switching rx_filter config slot");
  }
  return clear_mac_slot(slot ^ 1);
}

Result<RxFilterState> RxFilterProgram::read() const {
  auto slot = current_slot();
  if (!slot) return slot.take_error();
  rx_filter_config config{};
  if (int err = bpf_map__lookup_elem(skeleton_->maps.config, &*slot, sizeof(uint32_t), &config, sizeof(config), 0)) {
    return bpf_error(err, "reading rx_filter config");
  }
  RxFilterState state;
  state.promiscuous = config.promiscuous;
  state.broadcast_allowed = config.broadcast_allowed;
  state.unicast = mode_of(config.unicast_mode);
  state.multicast = mode_of(config.multicast_mode);
  state.vlan = mode_of(config.vlan_mode);
  state.unicast_overflow = config.unicast_overflow;
  state.multicast_overflow = config.multicast_overflow;
  std::memcpy(state.main_mac.data(), config.main_mac, 6);
  for (uint32_t vid = 0; vid < RX_FILTER_MAX_VLAN; vid++) {
    if (config.vlans[vid / 32] & (1u << (vid % 32))) state.vlan_table.push_back(static_cast<uint16_t>(vid));
  }
  std::vector<std::pair<uint8_t, Mac>> unicast, multicast;
  for (const auto& key : mac_keys(*slot)) {
    uint8_t position = 0;
    if (bpf_map__lookup_elem(skeleton_->maps.mac_table, &key, sizeof(key), &position, 1, 0) != 0) continue;
    Mac mac;
    std::memcpy(mac.data(), key.mac, 6);
    (mac[0] & 1 ? multicast : unicast).emplace_back(position, mac);
  }
  std::sort(unicast.begin(), unicast.end());
  std::sort(multicast.begin(), multicast.end());
  for (auto& [p, mac] : unicast) state.unicast_table.push_back(mac);
  for (auto& [p, mac] : multicast) state.multicast_table.push_back(mac);
  return state;
}

Result<RxFilterCounters> RxFilterProgram::counters() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return bpf_error(cpus, "counting possible CPUs");
  RxFilterCounters out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t which : {uint32_t{RX_COUNT_PASSED}, uint32_t{RX_COUNT_DROPPED}}) {
    if (int err = bpf_map__lookup_elem(skeleton_->maps.counters, &which, sizeof(which), per_cpu.data(),
                                       per_cpu.size() * sizeof(uint64_t), 0)) {
      return bpf_error(err, "reading rx_filter counters");
    }
    uint64_t sum = 0;
    for (uint64_t n : per_cpu) sum += n;
    (which == RX_COUNT_PASSED ? out.passed : out.dropped) = sum;
  }
  return out;
}

}  // namespace vnet::ebpf
