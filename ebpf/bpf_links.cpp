#include "ebpf/bpf_links.h"

#include <bpf/bpf.h>
#include <unistd.h>

namespace vnet::ebpf {

namespace {

// The device a link is attached to; 0 once the device is gone. (tcx's and
// XDP's ifindex share a place in bpf_link_info; 6.1's header names XDP's.)
int link_ifindex(int link_fd) {
  bpf_link_info info{};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(link_fd, &info, &length) != 0) return 0;
  return static_cast<int>(info.xdp.ifindex);
}

}  // namespace

std::optional<UniqueFd> reuse_pinned_link(const std::string& pin, int ifindex, int prog_fd) {
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) return std::nullopt;
  UniqueFd old(fd);
  if (link_ifindex(old.get()) == ifindex && bpf_link_update(old.get(), prog_fd, nullptr) == 0) return old;
  (void)bpf_link_detach(old.get());
  unlink(pin.c_str());
  return std::nullopt;
}

Result<void> pin_link(int link_fd, const std::string& pin) {
  unlink(pin.c_str());
  if (int err = bpf_obj_pin(link_fd, pin.c_str())) return bpf_error(err, "pinning a BPF link at " + pin);
  return {};
}

void detach_pinned_link(const std::string& pin) {
  if (pin.empty()) return;
  if (int fd = bpf_obj_get(pin.c_str()); fd >= 0) {
    UniqueFd link(fd);
    (void)bpf_link_detach(link.get());
  }
  unlink(pin.c_str());
}

}  // namespace vnet::ebpf
