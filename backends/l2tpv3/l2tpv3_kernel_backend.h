// L2tpv3KernelBackend - an l2tpv3 netdev the kernel carries: an L2TPv3
// tunnel and Ethernet session of the kernel's own (l2tp_eth, made through
// kernel_ifaces/l2tp_genl), with the same wire as QEMU's and vnetd's
// userspace l2tpv3. Its l2tpethN is the netdev's device:
//   - on a hub forwarded in the kernel it is a port like a guest's tap:
//     frames the tunnel brings arrive on its tc ingress, and the hub's
//     copies go out of it into the tunnel;
//   - otherwise vnetd joins it to its peer through a packet socket on it
//     (HostSidePort), as it joins a NIC's own tap.
// Frames from the tunnel never reach the host's stack (a host sink on its
// tc ingress), as they never reach it from QEMU's l2tpv3.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"
#include "backends/l2tpv3/l2tpv3_header.h"
#include "backends/l2tpv3/l2tpv3_offload.h"
#include "backends/nic/host_side_port.h"
#include "ebpf/host_sink.h"
#include "kernel_ifaces/rtnl.h"
#include "qapi_types.h"

namespace vnet::l2tpv3 {

class L2tpv3KernelBackend : public Backend {
 public:
  struct Env {
    KernelTunnels& tunnels;
    rtnl::Rtnl& rtnl;
    datapath::FrameLoop& frames;
  };
  // restored_tunnel: the tunnel a restarted daemon's record names. Kept
  // (with its device and whatever forwards through it) when the kernel still
  // has it as these options say; otherwise a new one is made, and a tunnel
  // that differs is left to whoever made it.
  static Result<std::unique_ptr<L2tpv3KernelBackend>> create(const qapi::NetdevL2TPv3Options& options,
                                                             const Layout& layout, Env env,
                                                             std::optional<uint32_t> restored_tunnel);
  ~L2tpv3KernelBackend() override;

  uint32_t tunnel_id() const { return tunnel_id_; }
  const std::string& ifname() const { return ifname_; }
  bool adopted() const { return adopted_; }

  Result<void> peer_connected(Backend& peer) override;
  void peer_disconnected(Backend& peer) override;
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  Result<void> set_link(bool up) override;
  void keep_on_exit() override { keep_ = true; }
  std::vector<Detail> details() const override;

 private:
  L2tpv3KernelBackend(const qapi::NetdevL2TPv3Options& options, const Layout& layout, Env env)
      : options_(options), layout_(layout), env_(env) {}
  Result<void> make_tunnel(const Endpoints& endpoints);
  Result<bool> adopt(uint32_t tunnel_id, const Endpoints& endpoints);
  Result<void> ready_device();

  qapi::NetdevL2TPv3Options options_;
  Layout layout_;
  Env env_;
  uint32_t tunnel_id_ = 0;
  std::string ifname_;
  int ifindex_ = 0;
  bool adopted_ = false;
  bool keep_ = false;
  ebpf::HostSink sink_;
  std::unique_ptr<nic::HostSidePort> host_side_;  // while peered
};

}  // namespace vnet::l2tpv3
