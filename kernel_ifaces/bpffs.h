// bpffs - a BPF filesystem to pin maps and programs on, so they outlive the
// process that made them.
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::bpffs {

// Makes dir and mounts a bpffs there unless one already is. Returns true
// when this call mounted it.
Result<bool> ensure_mounted(const std::string& dir);
Result<void> unmount(const std::string& dir);

}  // namespace vnet::bpffs
