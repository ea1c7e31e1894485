#include "ebpf/tc_ingress.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "ebpf/bpf_links.h"

namespace vnet::ebpf {

namespace {

// The clsact hook a cls_bpf filter goes on.
bpf_tc_attach_point hook_of(const TcIngressPlace& place) { return place.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS; }

// Linux 6.6's uapi (enum bpf_attach_type, BPF_F_BEFORE); Debian 12's headers
// and libbpf 1.1 predate tcx, so its two constants are spelled here.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;
constexpr uint32_t kBpfFBefore = 1U << 3;

// A tcx link for prog_fd, first in ifindex's chain, pinned at pin ("" for
// none). The link a daemon pinned before a restart is reused when it is
// still on ifindex: its program is swapped in one step.
Result<UniqueFd> attach_tcx(int ifindex, const std::string& ifname_for_errors, int prog_fd, const std::string& pin,
                            bool egress) {
  if (!pin.empty()) {
    if (auto reused = reuse_pinned_link(pin, ifindex, prog_fd)) return std::move(*reused);
  }
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = kBpfFBefore);
  int fd = bpf_link_create(prog_fd, ifindex, static_cast<bpf_attach_type>(egress ? kBpfTcxEgress : kBpfTcxIngress),
                           &opts);
  if (fd < 0) {
    return bpf_error(fd, std::string("attaching a tcx ") + (egress ? "egress" : "ingress") + " link to \"" +
                             ifname_for_errors + "\"");
  }
  UniqueFd link(fd);
  if (pin.empty()) return link;
  if (auto pinned = pin_link(link.get(), pin); !pinned) return pinned.take_error();
  return link;
}

Result<void> attach_cls_bpf(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                            const TcIngressPlace& place) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_of(place));
  // EEXIST: the device has a clsact qdisc already (ours from before a
  // restart, or someone else's): filters are added beside theirs.
  if (int err = bpf_tc_hook_create(&hook); err && err != -EEXIST) {
    return bpf_error(err, "creating a clsact qdisc on \"" + ifname_for_errors + "\"");
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = place.handle,
              .priority = place.priority);
  if (int err = bpf_tc_attach(&hook, &opts)) {
    return bpf_error(err, "attaching a BPF filter to the tc ingress of \"" + ifname_for_errors + "\"");
  }
  return {};
}

Result<void> detach_cls_bpf(int ifindex, const TcIngressPlace& place) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_of(place));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = place.handle, .priority = place.priority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    return bpf_error(err, "detaching the BPF filter from the tc ingress of ifindex " + std::to_string(ifindex));
  }
  return {};
}

}  // namespace

Result<TcIngressFilter> TcIngressFilter::attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                                const TcIngressPlace& place) {
  TcIngressFilter filter;
  if (!place.link_pin.empty() || place.tcx_unpinned) {
    auto link = attach_tcx(ifindex, ifname_for_errors, prog_fd, place.link_pin, place.egress);
    if (link) {
      // An older vnetd's cls_bpf filter goes once ours is in front of it.
      if (place.replaces_cls_bpf) (void)detach_cls_bpf(ifindex, place);
      filter.link_ = std::move(link.value());
    } else if (link.error().errnum != EINVAL) {
      return link.take_error();
    }
    // EINVAL: a kernel without tcx; cls_bpf does the same job.
  }
  if (!filter.link_) {
    if (auto attached = attach_cls_bpf(ifindex, ifname_for_errors, prog_fd, place); !attached) {
      return attached.take_error();
    }
  }
  filter.ifindex_ = ifindex;
  filter.place_ = place;
  return filter;
}

Result<void> TcIngressFilter::detach(int ifindex, const TcIngressPlace& place) {
  detach_pinned_link(place.link_pin);
  return detach_cls_bpf(ifindex, place);
}

TcIngressFilter& TcIngressFilter::operator=(TcIngressFilter&& other) noexcept {
  if (this != &other) {
    // A filter attached in our place replaced ours (the same pinned link, or
    // BPF_TC_F_REPLACE): it is not ours to take off any more.
    bool same_place = ifindex_ == other.ifindex_ && place_.handle == other.place_.handle &&
                      place_.priority == other.place_.priority && place_.link_pin == other.place_.link_pin;
    if (same_place) release();
    reset();
    ifindex_ = std::exchange(other.ifindex_, 0);
    place_ = std::move(other.place_);
    link_ = std::move(other.link_);
  }
  return *this;
}

void TcIngressFilter::release() {
  ifindex_ = 0;
  link_.reset();  // the pin holds the link
}

void TcIngressFilter::reset() {
  if (ifindex_ > 0) {
    if (link_) {
      (void)bpf_link_detach(link_.get());
      if (!place_.link_pin.empty()) unlink(place_.link_pin.c_str());
      link_.reset();
    } else {
      (void)detach_cls_bpf(ifindex_, place_);
    }
  }
  ifindex_ = 0;
}

}  // namespace vnet::ebpf
