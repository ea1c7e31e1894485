// SocketBackend - the socket netdev: frames over a host socket, as QEMU's
// net/socket.c puts them on the wire. This slice carries udp= (+ localaddr=):
// one datagram per frame, received on the frame loop, sent to the udp=
// address. listen=, connect=, mcast= and fd= are refused as not built yet.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <string>

#include "backends/backend.h"
#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet::socket {

// QEMU's parse_host_port(): "host:port", IPv4; an empty host is INADDR_ANY.
Result<sockaddr_in> parse_host_port(const std::string& text);

class SocketBackend : public Backend {
 public:
  static Result<std::unique_ptr<SocketBackend>> create(const qapi::NetdevSocketOptions& options,
                                                       datapath::FrameLoop& loop);
  ~SocketBackend() override;

  // A frame from the peer (a hubport, a NIC) goes out as one datagram.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  Result<void> peer_connected(Backend& peer) override {
    peer_ = &peer;
    return {};
  }
  void peer_disconnected(Backend&) override { peer_ = nullptr; }
  std::vector<Detail> details() const override;

 private:
  SocketBackend(datapath::FrameLoop& loop) : loop_(loop) {}
  void received(std::span<const uint8_t> frame);

  datapath::FrameLoop& loop_;
  UniqueFd fd_;
  datapath::SocketAddress destination_{};
  std::unique_ptr<datapath::DatagramSender> sender_;
  std::string udp_, localaddr_;
  std::optional<uint32_t> receiver_;
  Backend* peer_ = nullptr;
  uint64_t frames_in_ = 0, bytes_in_ = 0, drops_no_peer_ = 0;
};

}  // namespace vnet::socket
