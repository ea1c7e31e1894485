#include "ebpf/anti_spoof_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ebpf/bpf_error.h"
#include "ebpf/pinned_maps.h"
#include "anti_spoof.h"
#include "anti_spoof.skel.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::ebpf {

namespace {

const char* const kPinned[] = {"config", "allowed_v4", "allowed_v6", "counters"};

// Makes one LPM trie hold exactly `keys`: adds first, then removes the rest.
template <typename Key>
Result<void> sync_trie(bpf_map* map, const std::vector<Key>& keys, const char* what) {
  uint8_t one = 1;
  for (const Key& key : keys) {
    if (int err = bpf_map__update_elem(map, &key, sizeof(key), &one, sizeof(one), BPF_ANY)) {
      return bpf_error(err, std::string("writing anti_spoof ") + what);
    }
  }
  std::vector<Key> stale;
  Key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map__get_next_key(map, previous, &next, sizeof(next)) == 0) {
    bool wanted = std::any_of(keys.begin(), keys.end(), [&](const Key& k) { return !std::memcmp(&k, &next, sizeof(k)); });
    if (!wanted) stale.push_back(next);
    key = next;
    previous = &key;
  }
  for (const Key& old : stale) {
    if (int err = bpf_map__delete_elem(map, &old, sizeof(old), 0); err && err != -ENOENT) {
      return bpf_error(err, std::string("deleting from anti_spoof ") + what);
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<AntiSpoofProgram>> AntiSpoofProgram::load(const std::string& pin_dir) {
  if (!pin_dir.empty() && mkdir(pin_dir.c_str(), 0700) < 0 && errno != EEXIST) return errno_error("mkdir " + pin_dir);
  anti_spoof* skeleton = anti_spoof__open();
  if (!skeleton) return errno_error("opening the anti_spoof BPF object");
  std::unique_ptr<AntiSpoofProgram> program(new AntiSpoofProgram(skeleton));
  program->pin_dir_ = pin_dir;
  bpf_map* maps[] = {skeleton->maps.config, skeleton->maps.allowed_v4, skeleton->maps.allowed_v6,
                     skeleton->maps.counters};
  if (!pin_dir.empty()) {
    auto adopted = reuse_pinned_maps(pin_dir, maps);
    if (!adopted) return adopted.take_error();
    program->adopted_ = *adopted;
  }
  if (int err = anti_spoof__load(skeleton)) return bpf_error(err, "loading the anti_spoof BPF program");
  if (!pin_dir.empty() && !program->adopted_) {
    if (auto pinned = pin_maps(pin_dir, maps); !pinned) return pinned.take_error();
  }
  return program;
}

void AntiSpoofProgram::unpin() {
  if (pin_dir_.empty()) return;
  for (const char* name : kPinned) unlink((pin_dir_ + "/" + name).c_str());
  rmdir(pin_dir_.c_str());
  pin_dir_.clear();
}

AntiSpoofProgram::~AntiSpoofProgram() { anti_spoof__destroy(skeleton_); }

int AntiSpoofProgram::prog_fd() const { return bpf_program__fd(skeleton_->progs.anti_spoof); }

int AntiSpoofProgram::xdp_prog_fd() const { return bpf_program__fd(skeleton_->progs.anti_spoof_xdp); }

Result<void> AntiSpoofProgram::apply(const AntiSpoofSettings& settings) {
  std::vector<anti_spoof_v4_key> v4;
  std::vector<anti_spoof_v6_key> v6;
  for (const IpPrefix& prefix : settings.allowed) {
    if (prefix.v6) {
      anti_spoof_v6_key key{prefix.length, {}};
      std::memcpy(key.addr, prefix.addr.data(), 16);
      v6.push_back(key);
    } else {
      anti_spoof_v4_key key{prefix.length, {}};
      std::memcpy(key.addr, prefix.addr.data(), 4);
      v4.push_back(key);
    }
  }
  if (v4.size() > ANTI_SPOOF_MAX_PREFIXES || v6.size() > ANTI_SPOOF_MAX_PREFIXES) {
    return Error{EINVAL, "anti-spoof: more than " + std::to_string(ANTI_SPOOF_MAX_PREFIXES) + " prefixes of a family"};
  }
  // Prefixes first: a MAC or mode change must not meet the old prefixes.
  if (auto done = sync_trie(skeleton_->maps.allowed_v4, v4, "allowed_v4"); !done) return done;
  if (auto done = sync_trie(skeleton_->maps.allowed_v6, v6, "allowed_v6"); !done) return done;
  anti_spoof_config config{};
  std::memcpy(config.mac, settings.mac.data(), 6);
  config.drop_other = settings.drop_other;
  config.layout_version = ANTI_SPOOF_LAYOUT_VERSION;
  uint32_t zero = 0;
  if (int err = bpf_map__update_elem(skeleton_->maps.config, &zero, sizeof(zero), &config, sizeof(config), BPF_ANY)) {
    return bpf_error(err, "writing anti_spoof config");
  }
  return {};
}

Result<AntiSpoofCounters> AntiSpoofProgram::counters() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return bpf_error(cpus, "counting possible CPUs");
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  uint64_t sums[AS_COUNT_MAX] = {};
  for (uint32_t which = 0; which < AS_COUNT_MAX; which++) {
    if (int err = bpf_map__lookup_elem(skeleton_->maps.counters, &which, sizeof(which), per_cpu.data(),
                                       per_cpu.size() * sizeof(uint64_t), 0)) {
      return bpf_error(err, "reading anti_spoof counters");
    }
    for (uint64_t n : per_cpu) sums[which] += n;
  }
  AntiSpoofCounters out;
  out.bad_mac = sums[AS_COUNT_BAD_MAC];
  out.bad_arp = sums[AS_COUNT_BAD_ARP];
  out.bad_ipv4 = sums[AS_COUNT_BAD_IPV4];
  out.bad_ipv6 = sums[AS_COUNT_BAD_IPV6];
  out.bad_na = sums[AS_COUNT_BAD_NA];
  out.other = sums[AS_COUNT_OTHER];
  out.passed = sums[AS_COUNT_PASSED];
  return out;
}

}  // namespace vnet::ebpf
