#include "ebpf/xdp_link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <utility>

#include "ebpf/bpf_links.h"

namespace vnet::ebpf {

Result<XdpLink> XdpLink::attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                const std::string& pin) {
  XdpLink attached;
  attached.pin_ = pin;
  if (!pin.empty()) {
    if (auto reused = reuse_pinned_link(pin, ifindex, prog_fd)) {
      attached.link_ = std::move(*reused);
      return attached;
    }
  }
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_SKB_MODE);
  int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
  if (fd < 0) return bpf_error(fd, "attaching a generic XDP link to \"" + ifname_for_errors + "\"");
  attached.link_ = UniqueFd(fd);
  if (!pin.empty()) {
    if (auto pinned = pin_link(attached.link_.get(), pin); !pinned) return pinned.take_error();
  }
  return attached;
}

void XdpLink::detach(const std::string& pin) { detach_pinned_link(pin); }

XdpLink& XdpLink::operator=(XdpLink&& other) noexcept {
  if (this != &other) {
    // The same pinned link (a program swapped in): not ours to take off.
    if (!pin_.empty() && pin_ == other.pin_) release();
    reset();
    link_ = std::move(other.link_);
    pin_ = std::exchange(other.pin_, "");
  }
  return *this;
}

void XdpLink::release() {
  link_.reset();
  pin_.clear();
}

void XdpLink::reset() {
  if (link_) {
    (void)bpf_link_detach(link_.get());
    if (!pin_.empty()) unlink(pin_.c_str());
  }
  link_.reset();
  pin_.clear();
}

}  // namespace vnet::ebpf
