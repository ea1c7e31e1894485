// L2tpv3Backend - the l2tpv3 netdev: Ethernet frames in RFC 3931 data
// packets, over UDP or straight over IP (protocol 115), IPv4 or IPv6, on the
// wire as QEMU 7.2's net/l2tpv3.c (l2tpv3_header.h). Receives on the frame
// loop; sends batched, the header copied and the frame sent by reference.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "backends/datapath/userspace_port.h"
#include "backends/l2tpv3/l2tpv3_header.h"
#include "backends/l2tpv3/l2tpv3_offload.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet::l2tpv3 {

// QEMU's checks on the options, in its order and words, and the layout
// they give.
Result<Layout> plan_layout(const qapi::NetdevL2TPv3Options& options);
// What query-netdevs shows of the layout, whichever path carries it.
std::vector<Detail> layout_details(const Layout& layout, const qapi::NetdevL2TPv3Options& options);

class L2tpv3Backend : public datapath::UserspacePort {
 public:
  // why_not_kernel: why the kernel does not carry it (query-netdevs'
  // userspace-reason).
  static Result<std::unique_ptr<L2tpv3Backend>> create(const qapi::NetdevL2TPv3Options& options,
                                                       datapath::FrameLoop& loop, std::string why_not_kernel);
  ~L2tpv3Backend() override;

  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  std::vector<Detail> details() const override;

 private:
  L2tpv3Backend(datapath::FrameLoop& loop, Layout layout, qapi::NetdevL2TPv3Options options)
      : loop_(loop), layout_(layout), options_(std::move(options)) {}
  Result<void> open_socket();
  void received(std::span<const uint8_t> datagram);

  datapath::FrameLoop& loop_;
  Layout layout_;
  qapi::NetdevL2TPv3Options options_;
  UniqueFd fd_;
  datapath::SocketAddress destination_{};
  socklen_t destination_length_ = 0;
  std::unique_ptr<datapath::DatagramSender> sender_;
  std::optional<uint32_t> receiver_;
  uint32_t sequence_ = 0;
  std::string why_not_kernel_;
  uint64_t drops_short_ = 0, drops_session_ = 0, drops_cookie_ = 0;
};

}  // namespace vnet::l2tpv3
