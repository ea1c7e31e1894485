#include "ebpf/frame_injector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <string>
#include <vector>

#include "announce.skel.h"

namespace vnet::ebpf {

Result<std::unique_ptr<FrameInjector>> FrameInjector::load() {
  announce* skeleton = announce__open_and_load();
  if (!skeleton) return Error::from_errno(errno, "loading announce.bpf.o");
  return std::unique_ptr<FrameInjector>(new FrameInjector(skeleton));
}

FrameInjector::~FrameInjector() { announce__destroy(skeleton_); }

Result<void> FrameInjector::inject(int ifindex, std::span<const uint8_t> frame) {
  // The kernel may write into data_in in live mode; hand it a copy.
  std::vector<uint8_t> data(frame.begin(), frame.end());
  xdp_md context{};
  context.ingress_ifindex = static_cast<uint32_t>(ifindex);
  context.rx_queue_index = 0;
  context.data_end = static_cast<uint32_t>(data.size());
  LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = data.data(), .data_size_in = static_cast<uint32_t>(data.size()),
              .ctx_in = &context, .ctx_size_in = sizeof context, .repeat = 1, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
  if (bpf_prog_test_run_opts(bpf_program__fd(skeleton_->progs.announce_pass), &options) < 0) {
    return Error::from_errno(errno, "BPF_PROG_TEST_RUN (XDP live frames) on ifindex " + std::to_string(ifindex));
  }
  // Live mode reports no retval: the program's XDP_PASS is all it can do.
  return {};
}

}  // namespace vnet::ebpf
