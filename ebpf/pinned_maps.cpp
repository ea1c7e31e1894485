#include "ebpf/pinned_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <vector>

#include "ebpf/bpf_error.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::ebpf {

namespace {

std::string pin_path(const std::string& pin_dir, bpf_map* map) { return pin_dir + "/" + bpf_map__name(map); }

}  // namespace

Result<bool> reuse_pinned_maps(const std::string& pin_dir, std::span<bpf_map* const> maps) {
  std::vector<UniqueFd> pinned;
  for (bpf_map* map : maps) {
    if (int fd = bpf_obj_get(pin_path(pin_dir, map).c_str()); fd >= 0) pinned.emplace_back(fd);
  }
  if (pinned.size() != maps.size()) return false;
  for (size_t i = 0; i < maps.size(); i++) {
    if (int err = bpf_map__reuse_fd(maps[i], pinned[i].get())) {
      return bpf_error(err, "re-adopting pinned map " + pin_path(pin_dir, maps[i]));
    }
  }
  return true;
}

Result<void> pin_maps(const std::string& pin_dir, std::span<bpf_map* const> maps) {
  for (bpf_map* map : maps) {
    std::string path = pin_path(pin_dir, map);
    unlink(path.c_str());
    if (int err = bpf_map__pin(map, path.c_str())) return bpf_error(err, "pinning " + path);
  }
  return {};
}

}  // namespace vnet::ebpf
