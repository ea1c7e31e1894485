#include "ebpf/host_sink.h"

#include <bpf/libbpf.h>

#include <memory>

#include "ebpf/bpf_error.h"
#include "host_sink.skel.h"

namespace vnet::ebpf {

namespace {

// One program serves every tap (it has no maps): loaded on first use.
Result<int> shared_program() {
  static host_sink* skeleton = nullptr;
  if (!skeleton) {
    host_sink* loaded = host_sink__open_and_load();
    if (!loaded) return bpf_error(errno, "loading the host_sink BPF program");
    skeleton = loaded;
  }
  return bpf_program__fd(skeleton->progs.host_sink);
}

}  // namespace

Result<HostSink> HostSink::attach(int ifindex, const std::string& ifname_for_errors, const std::string& link_pin) {
  auto prog_fd = shared_program();
  if (!prog_fd) return prog_fd.take_error();
  TcIngressPlace place{kHostSinkTcHandle, kHostSinkTcPriority, link_pin};
  auto filter = TcIngressFilter::attach(ifindex, ifname_for_errors, *prog_fd, place);
  if (!filter) return filter.take_error();
  HostSink sink;
  sink.filter_ = std::move(filter.value());
  return sink;
}

}  // namespace vnet::ebpf
