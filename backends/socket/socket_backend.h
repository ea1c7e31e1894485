// SocketBackend - the socket netdev: frames over a host socket, as QEMU's
// net/socket.c puts them on the wire.
//   udp= (+ localaddr=): one datagram per frame to the udp= address;
//   mcast= (+ localaddr=): one datagram per frame to a multicast group it
//     has joined (looped back, so netdevs on one host hear each other);
//   listen=: a TCP server taking one connection at a time, each frame behind
//     its 4-byte big-endian length; when the connection ends, the next one;
//   connect=: a TCP client, the same framing, no reconnect (QEMU 7.2's);
//   fd=: a socket the client passed with getfd, stream or datagram.
// Receives are on the frame loop; sends batched (DatagramSender,
// StreamSender).
#pragma once

#include <netinet/in.h>

#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "backends/datapath/userspace_port.h"
#include "backends/socket/length_prefix.h"
#include "backends/socket/stream_sender.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet::socket {

// QEMU's parse_host_port(): "host:port", IPv4; an empty host is INADDR_ANY.
Result<sockaddr_in> parse_host_port(const std::string& text);

// A named fd (getfd), taken out of the client's session.
using TakeNamedFd = std::function<std::optional<UniqueFd>(const std::string&)>;

class SocketBackend : public datapath::UserspacePort, private datapath::BatchFlush {
 public:
  static Result<std::unique_ptr<SocketBackend>> create(const qapi::NetdevSocketOptions& options,
                                                       datapath::FrameLoop& loop, const TakeNamedFd& take_named_fd);
  ~SocketBackend() override;

  // A frame from the peer (a hubport, a NIC) goes out on the socket.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  std::vector<Detail> details() const override;

 private:
  enum class Mode { udp, mcast, listen, connect, fd_stream, fd_datagram };
  explicit SocketBackend(datapath::FrameLoop& loop) : loop_(loop), stream_sender_(loop) {}

  Result<void> open_udp(const qapi::NetdevSocketOptions& options);
  Result<void> open_mcast(const qapi::NetdevSocketOptions& options);
  Result<void> open_listen(const std::string& address);
  Result<void> open_connect(const std::string& address);
  Result<void> adopt_fd(const std::string& name, const TakeNamedFd& take_named_fd);
  Result<void> start_datagrams();

  void accept_one();
  void start_stream(UniqueFd connection, std::string peer_address, bool connecting);
  void stream_bytes(std::span<const uint8_t> bytes);
  void stream_ended(int error);
  void flush_batch() override { reader_.batch_ended(); }

  datapath::FrameLoop& loop_;
  Mode mode_ = Mode::udp;
  std::string option_;  // the mode's option, as given
  std::string localaddr_;
  UniqueFd listen_fd_;
  UniqueFd fd_;  // the datagram socket or the TCP connection
  datapath::SocketAddress destination_{};
  socklen_t destination_length_ = 0;  // 0: the socket's connected peer
  std::unique_ptr<datapath::DatagramSender> datagram_sender_;
  StreamSender stream_sender_;
  LengthPrefixReader reader_;
  std::optional<uint32_t> receiver_, listen_watch_, connect_watch_;
  std::string peer_address_;
  uint64_t connections_ = 0, stream_errors_ = 0;
  std::string last_stream_error_;
};

}  // namespace vnet::socket
