#include "backends/socket/socket_backend.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace vnet::socket {

Result<sockaddr_in> parse_host_port(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos) {
    return Error{EINVAL, "host address '" + text + "' doesn't contain ':' separating host from port"};
  }
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (!host.empty()) {
    if (std::isdigit(static_cast<unsigned char>(host[0]))) {
      if (!inet_aton(host.c_str(), &address.sin_addr)) {
        return Error{EINVAL, "host address '" + host + "' is not a valid IPv4 address"};
      }
    } else {
      addrinfo hints{}, *found = nullptr;
      hints.ai_family = AF_INET;
      if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) {
        return Error{EINVAL, "can't resolve host address '" + host + "'"};
      }
      address.sin_addr = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
      freeaddrinfo(found);
    }
  }
  char* end = nullptr;
  errno = 0;
  long number = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || errno || number < 0 || number > 65535) {
    return Error{EINVAL, "port number '" + port + "' is invalid"};
  }
  address.sin_port = htons(static_cast<uint16_t>(number));
  return address;
}

Result<std::unique_ptr<SocketBackend>> SocketBackend::create(const qapi::NetdevSocketOptions& options,
                                                             datapath::FrameLoop& loop) {
  // QEMU's net_init_socket() checks, in its order and words.
  int modes = !!options.fd + !!options.listen + !!options.connect + !!options.mcast + !!options.udp;
  if (modes != 1) return Error{EINVAL, "exactly one of listen=, connect=, mcast= or udp= is required"};
  if (options.localaddr && !options.mcast && !options.udp) {
    return Error{EINVAL, "localaddr= is only valid with mcast= or udp="};
  }
  if (!options.udp) {
    const char* mode = options.fd ? "fd=" : options.listen ? "listen=" : options.connect ? "connect=" : "mcast=";
    return Error{EOPNOTSUPP, std::string("socket netdev with ") + mode + " is not implemented in this vnetd yet"};
  }
  if (!options.localaddr) return Error{EINVAL, "localaddr= is mandatory with udp="};
  // As net_socket_udp_init().
  auto local = parse_host_port(*options.localaddr);
  if (!local) return local.take_error();
  auto remote = parse_host_port(*options.udp);
  if (!remote) return remote.take_error();
  std::unique_ptr<SocketBackend> backend(new SocketBackend(loop));
  backend->udp_ = *options.udp;
  backend->localaddr_ = *options.localaddr;
  backend->destination_.v4 = *remote;
  backend->fd_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!backend->fd_) return Error{errno, std::string("can't create datagram socket: ") + std::strerror(errno)};
  int one = 1;
  setsockopt(backend->fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // socket_set_fast_reuse()
  if (bind(backend->fd_.get(), reinterpret_cast<const sockaddr*>(&*local), sizeof *local) < 0) {
    int err = errno;
    return Error{err, std::string("can't bind ip=") + inet_ntoa(local->sin_addr) + " to socket: " + std::strerror(err)};
  }
  backend->sender_ = std::make_unique<datapath::DatagramSender>(loop, backend->fd_.get());
  SocketBackend* raw = backend.get();
  auto receiver = loop.add_receiver(backend->fd_.get(), [raw](std::span<const uint8_t> frame) { raw->received(frame); });
  if (!receiver) return receiver.take_error();
  backend->receiver_ = *receiver;
  return backend;
}

SocketBackend::~SocketBackend() {
  if (receiver_) loop_.remove_receiver(*receiver_);
}

void SocketBackend::received(std::span<const uint8_t> frame) {
  frames_in_++;
  bytes_in_ += frame.size();
  if (!peer_) {
    drops_no_peer_++;
    return;
  }
  (void)peer_->send_from_guest(frame);
}

Result<void> SocketBackend::send_from_guest(std::span<const uint8_t> frame) {
  sender_->send({}, frame, &destination_, sizeof destination_.v4);
  return {};
}

std::vector<Detail> SocketBackend::details() const {
  std::vector<Detail> out{{"mode", std::string("udp")},
                          {"udp", udp_},
                          {"localaddr", localaddr_},
                          {"frames-in", static_cast<int64_t>(frames_in_)},
                          {"bytes-in", static_cast<int64_t>(bytes_in_)},
                          {"drops-no-peer", static_cast<int64_t>(drops_no_peer_)}};
  for (auto& detail : sender_->details()) out.push_back(std::move(detail));
  return out;
}

}  // namespace vnet::socket
