// XdpLink - a BPF program on a device's generic XDP hook (XDP_FLAGS_SKB_MODE)
// as a BPF link, pinned in a bpffs when given a pin path so that it outlives
// the daemon. Generic XDP runs before packet sockets see a received frame,
// where tc ingress runs after them. Owned: destruction detaches it, unless
// released (the daemon stops and leaves it for the next one).
#pragma once

#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::ebpf {

class XdpLink {
 public:
  XdpLink() = default;
  // Attaches prog_fd to ifindex; the link pinned at pin (a restart's) is
  // reused with prog_fd swapped in, when it is still on ifindex.
  static Result<XdpLink> attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                const std::string& pin);
  // Takes off the link pinned at pin (a crash's, not held by anyone).
  static void detach(const std::string& pin);

  XdpLink(XdpLink&& other) noexcept { *this = std::move(other); }
  XdpLink& operator=(XdpLink&& other) noexcept;
  XdpLink(const XdpLink&) = delete;
  XdpLink& operator=(const XdpLink&) = delete;
  ~XdpLink() { reset(); }

  explicit operator bool() const { return bool(link_); }
  // Leaves the program attached (held by its pin); no longer owned here.
  void release();
  void reset();

 private:
  UniqueFd link_;
  std::string pin_;
};

}  // namespace vnet::ebpf
