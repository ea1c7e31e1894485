// pinned_maps - a BPF object's maps kept in a bpffs directory across a
// daemon's restarts (each pinned under its own name): adopted before the
// object loads when all of them are there, pinned after it loads otherwise.
#pragma once

#include <span>
#include <string>

#include "kernel_ifaces/result.h"

struct bpf_map;

namespace vnet::ebpf {

// Before the object's load: the maps pinned in pin_dir are reused, all of
// them or none (a half set, from a crash while pinning, starts afresh).
// True when they were.
Result<bool> reuse_pinned_maps(const std::string& pin_dir, std::span<bpf_map* const> maps);

// After the load, for maps not adopted: each is pinned in pin_dir,
// replacing a stale pin of the same name.
Result<void> pin_maps(const std::string& pin_dir, std::span<bpf_map* const> maps);

}  // namespace vnet::ebpf
