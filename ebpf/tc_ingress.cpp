#include "ebpf/tc_ingress.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <utility>

namespace vnet::ebpf {

Result<TcIngressFilter> TcIngressFilter::attach(int ifindex, const std::string& ifname_for_errors, int prog_fd,
                                                uint32_t handle, uint32_t priority) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  // EEXIST: the device has a clsact qdisc already (ours from before a
  // restart, or someone else's): filters are added beside theirs.
  if (int err = bpf_tc_hook_create(&hook); err && err != -EEXIST) {
    return Error::from_errno(-err, "creating a clsact qdisc on \"" + ifname_for_errors + "\"");
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = handle,
              .priority = priority);
  if (int err = bpf_tc_attach(&hook, &opts)) {
    return Error::from_errno(-err, "attaching a BPF filter to the tc ingress of \"" + ifname_for_errors + "\"");
  }
  TcIngressFilter filter;
  filter.ifindex_ = ifindex;
  filter.handle_ = handle;
  filter.priority_ = priority;
  return filter;
}

Result<void> TcIngressFilter::detach(int ifindex, uint32_t handle, uint32_t priority) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    return Error::from_errno(-err, "detaching the BPF filter from the tc ingress of ifindex " + std::to_string(ifindex));
  }
  return {};
}

TcIngressFilter& TcIngressFilter::operator=(TcIngressFilter&& other) noexcept {
  if (this != &other) {
    // A filter attached in our place replaced ours (BPF_TC_F_REPLACE): it
    // is not ours to take off any more.
    bool same_place = ifindex_ == other.ifindex_ && handle_ == other.handle_ && priority_ == other.priority_;
    if (same_place) release();
    reset();
    ifindex_ = std::exchange(other.ifindex_, 0);
    handle_ = other.handle_;
    priority_ = other.priority_;
  }
  return *this;
}

void TcIngressFilter::reset() {
  if (ifindex_ > 0) (void)detach(ifindex_, handle_, priority_);
  ifindex_ = 0;
}

}  // namespace vnet::ebpf
