#include "backends/socket/socket_backend.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "kernel_ifaces/fd_flags.h"

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
  // Base 0 as QEMU's qemu_strtoi64(): "0x50" is 80 and "010" is 8. QEMU
  // then wraps a number outside 0..65535 into another port; we refuse it.
  long long number = std::strtoll(port.c_str(), &end, 0);
  if (port.empty() || *end || errno || number < 0 || number > 65535) {
    return Error{EINVAL, "port number '" + port + "' is invalid"};
  }
  address.sin_port = htons(static_cast<uint16_t>(number));
  return address;
}

namespace {

std::string with_errno(const std::string& text, int error) { return text + ": " + std::strerror(error); }

// A non-blocking UDP socket bound to address, with SO_REUSEADDR: several
// netdevs (and QEMUs) on one host bind the same multicast group and port.
// QEMU's texts, as net_socket_udp_init() and net_socket_mcast_create().
Result<UniqueFd> bind_datagram(const sockaddr_in& address) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error{errno, with_errno("can't create datagram socket", errno)};
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    return Error{errno, with_errno("can't set socket option SO_REUSEADDR", errno)};
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    return Error{errno, with_errno(std::string("can't bind ip=") + inet_ntoa(address.sin_addr) + " to socket", errno)};
  }
  return fd;
}

std::string address_text(const sockaddr_in& address) {
  return std::string(inet_ntoa(address.sin_addr)) + ":" + std::to_string(ntohs(address.sin_port));
}

}  // namespace

Result<std::unique_ptr<SocketBackend>> SocketBackend::create(const qapi::NetdevSocketOptions& options,
                                                             datapath::FrameLoop& loop,
                                                             const TakeNamedFd& take_named_fd) {
  // QEMU's net_init_socket() checks, in its order and words.
  int modes = !!options.fd + !!options.listen + !!options.connect + !!options.mcast + !!options.udp;
  if (modes != 1) return Error{EINVAL, "exactly one of listen=, connect=, mcast= or udp= is required"};
  if (options.localaddr && !options.mcast && !options.udp) {
    return Error{EINVAL, "localaddr= is only valid with mcast= or udp="};
  }
  std::unique_ptr<SocketBackend> backend(new SocketBackend(loop));
  Result<void> opened;
  if (options.fd) opened = backend->adopt_fd(*options.fd, take_named_fd);
  else if (options.listen) opened = backend->open_listen(*options.listen);
  else if (options.connect) opened = backend->open_connect(*options.connect);
  else if (options.mcast) opened = backend->open_mcast(options);
  else opened = backend->open_udp(options);
  if (!opened) return opened.take_error();
  return backend;
}

SocketBackend::~SocketBackend() {
  if (receiver_) loop_.remove_receiver(*receiver_);
  for (auto* watch : {&listen_watch_, &connect_watch_}) {
    if (*watch) loop_.unwatch(**watch);
  }
  loop_.forget_flush(*this);
}

// As net_socket_udp_init().
Result<void> SocketBackend::open_udp(const qapi::NetdevSocketOptions& options) {
  if (!options.localaddr) return Error{EINVAL, "localaddr= is mandatory with udp="};
  auto local = parse_host_port(*options.localaddr);
  if (!local) return local.take_error();
  auto remote = parse_host_port(*options.udp);
  if (!remote) return remote.take_error();
  mode_ = Mode::udp;
  option_ = *options.udp;
  localaddr_ = *options.localaddr;
  destination_.v4 = *remote;
  destination_length_ = sizeof(sockaddr_in);
  auto bound = bind_datagram(*local);
  if (!bound) return bound.take_error();
  fd_ = std::move(*bound);
  return start_datagrams();
}

// As net_socket_mcast_init() and net_socket_mcast_create().
Result<void> SocketBackend::open_mcast(const qapi::NetdevSocketOptions& options) {
  auto group = parse_host_port(*options.mcast);
  if (!group) return group.take_error();
  std::optional<in_addr> local;
  if (options.localaddr) {
    in_addr address{};
    if (!inet_aton(options.localaddr->c_str(), &address)) {
      return Error{EINVAL, "localaddr '" + *options.localaddr + "' is not a valid IPv4 address"};
    }
    local = address;
    localaddr_ = *options.localaddr;
  }
  uint32_t host_order = ntohl(group->sin_addr.s_addr);
  if (!IN_MULTICAST(host_order)) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", host_order);
    return Error{EINVAL, std::string("specified mcastaddr ") + inet_ntoa(group->sin_addr) + " (" + hex +
                             ") does not contain a multicast address"};
  }
  mode_ = Mode::mcast;
  option_ = *options.mcast;
  auto bound = bind_datagram(*group);
  if (!bound) return bound.take_error();
  fd_ = std::move(*bound);
  int one = 1;
  ip_mreq membership{};
  membership.imr_multiaddr = group->sin_addr;
  membership.imr_interface.s_addr = local ? local->s_addr : htonl(INADDR_ANY);
  if (setsockopt(fd_.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership) < 0) {
    return Error{errno, with_errno(std::string("can't add socket to multicast group ") + inet_ntoa(group->sin_addr),
                                   errno)};
  }
  if (setsockopt(fd_.get(), IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one) < 0) {
    return Error{errno, with_errno("can't force multicast message to loopback", errno)};
  }
  if (local && setsockopt(fd_.get(), IPPROTO_IP, IP_MULTICAST_IF, &*local, sizeof *local) < 0) {
    return Error{errno, with_errno("can't set the default network send interface", errno)};
  }
  destination_.v4 = *group;
  destination_length_ = sizeof(sockaddr_in);
  return start_datagrams();
}

// As net_socket_listen_init(): one connection at a time.
Result<void> SocketBackend::open_listen(const std::string& address) {
  auto local = parse_host_port(address);
  if (!local) return local.take_error();
  mode_ = Mode::listen;
  option_ = address;
  listen_fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_) return Error{errno, with_errno("can't create stream socket", errno)};
  int one = 1;
  setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // socket_set_fast_reuse()
  if (bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&*local), sizeof *local) < 0) {
    return Error{errno, with_errno(std::string("can't bind ip=") + inet_ntoa(local->sin_addr) + " to socket", errno)};
  }
  if (::listen(listen_fd_.get(), 0) < 0) return Error{errno, with_errno("can't listen on socket", errno)};
  auto watch = loop_.watch(listen_fd_.get(), POLLIN, [this](uint32_t) { accept_one(); });
  if (!watch) return watch.take_error();
  listen_watch_ = *watch;
  return {};
}

// As net_socket_connect_init(): the connect goes on in the background.
Result<void> SocketBackend::open_connect(const std::string& address) {
  auto remote = parse_host_port(address);
  if (!remote) return remote.take_error();
  mode_ = Mode::connect;
  option_ = address;
  UniqueFd connection(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!connection) return Error{errno, with_errno("can't create stream socket", errno)};
  int result;
  do {
    result = ::connect(connection.get(), reinterpret_cast<const sockaddr*>(&*remote), sizeof *remote);
  } while (result < 0 && errno == EINTR);
  bool connecting = result < 0 && (errno == EINPROGRESS || errno == EALREADY || errno == EWOULDBLOCK);
  if (result < 0 && !connecting) return Error{errno, with_errno("can't connect socket", errno)};
  start_stream(std::move(connection), address_text(*remote), connecting);
  return {};
}

// fd=: a socket from the client (getfd), as net_socket_fd_init().
Result<void> SocketBackend::adopt_fd(const std::string& name, const TakeNamedFd& take_named_fd) {
  option_ = name;
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    return Error{EINVAL, "fd name '" + name + "' is a number: pass the fd with getfd and use its name"};
  }
  auto fd = take_named_fd ? take_named_fd(name) : std::nullopt;
  if (!fd) return Error{EBADF, "File descriptor named '" + name + "' has not been found"};
  if (auto nonblocking = set_nonblocking(fd->get(), "fd '" + name + "'"); !nonblocking) {
    int err = nonblocking.error().errnum;
    return Error{err, with_errno(name + ": Can't use file descriptor " + std::to_string(fd->get()), err)};
  }
  int type = -1;
  socklen_t length = sizeof type;
  if (getsockopt(fd->get(), SOL_SOCKET, SO_TYPE, &type, &length) < 0) {
    return Error{errno, "can't get socket option SO_TYPE"};
  }
  if (type == SOCK_STREAM) {
    mode_ = Mode::fd_stream;
    start_stream(std::move(*fd), "", false);
    return {};
  }
  if (type != SOCK_DGRAM) {
    return Error{EINVAL, "socket type=" + std::to_string(type) + " for fd=" + std::to_string(fd->get()) +
                             " must be either SOCK_DGRAM or SOCK_STREAM"};
  }
  // QEMU sends to a zeroed address here, which fails on an inet socket; we
  // send to the socket's connected peer (docs/qmp-oracle.md).
  mode_ = Mode::fd_datagram;
  fd_ = std::move(*fd);
  destination_length_ = 0;
  return start_datagrams();
}

Result<void> SocketBackend::start_datagrams() {
  datagram_sender_ = std::make_unique<datapath::DatagramSender>(loop_, fd_.get());
  auto receiver = loop_.add_receiver(fd_.get(), [this](std::span<const uint8_t> frame) { deliver(frame); });
  if (!receiver) return receiver.take_error();
  receiver_ = *receiver;
  return {};
}

void SocketBackend::accept_one() {
  sockaddr_in from{};
  socklen_t length = sizeof from;
  UniqueFd connection(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&from), &length,
                              SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!connection) return;  // gone before we took it: wait for the next
  // One connection at a time: the next waits in the backlog until it ends.
  loop_.unwatch(*listen_watch_);
  listen_watch_.reset();
  start_stream(std::move(connection), address_text(from), false);
}

void SocketBackend::start_stream(UniqueFd connection, std::string peer_address, bool connecting) {
  fd_ = std::move(connection);
  peer_address_ = std::move(peer_address);
  connections_++;
  int one = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as QEMU: frames are latency-bound
  reader_.reset();
  stream_sender_.attach(fd_.get());
  auto start_receiving = [this] {
    auto receiver = loop_.add_stream_receiver(
        fd_.get(), [this](std::span<const uint8_t> bytes) { stream_bytes(bytes); },
        [this](int error) {
          receiver_.reset();  // ended: the id is no longer ours
          stream_ended(error);
        });
    if (receiver) receiver_ = *receiver;
    else stream_ended(receiver.error().errnum);
  };
  if (!connecting) {
    start_receiving();
    return;
  }
  // Reading starts once the connect has finished, as QEMU's.
  auto watch = loop_.watch(fd_.get(), POLLOUT, [this, start_receiving](uint32_t) {
    loop_.unwatch(*connect_watch_);
    connect_watch_.reset();
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error) stream_ended(error);
    else start_receiving();
  });
  if (watch) connect_watch_ = *watch;
  else stream_ended(watch.error().errnum);
}

void SocketBackend::stream_bytes(std::span<const uint8_t> bytes) {
  loop_.defer_flush(*this);  // the reader's buffers are reused after the batch
  auto fed = reader_.feed(bytes, [this](std::span<const uint8_t> frame) { deliver(frame); });
  if (!fed) {
    // Past the length limit the stream can't be read on: end it, as QEMU.
    if (receiver_) loop_.remove_receiver(*receiver_);
    receiver_.reset();
    stream_ended(fed.error().errnum);
    last_stream_error_ = fed.error().message;
  }
}

// The connection ended (or never came up): a listener takes the next one;
// a connect= netdev stays down, as QEMU 7.2's.
void SocketBackend::stream_ended(int error) {
  if (error) {
    stream_errors_++;
    last_stream_error_ = std::strerror(error);
  }
  stream_sender_.attach(-1);
  fd_.reset();
  peer_address_.clear();
  reader_.reset();
  if (mode_ == Mode::listen && !listen_watch_) {
    auto watch = loop_.watch(listen_fd_.get(), POLLIN, [this](uint32_t) { accept_one(); });
    if (watch) listen_watch_ = *watch;
  }
}

Result<void> SocketBackend::send_from_guest(std::span<const uint8_t> frame) {
  if (datagram_sender_) {
    datagram_sender_->send({}, frame, destination_length_ ? &destination_ : nullptr, destination_length_);
  } else {
    stream_sender_.send(frame);
  }
  return {};
}

std::vector<Detail> SocketBackend::details() const {
  static constexpr const char* kModes[] = {"udp", "mcast", "listen", "connect", "fd", "fd"};
  std::vector<Detail> out{{"mode", std::string(kModes[static_cast<int>(mode_)])}};
  out.push_back({mode_ == Mode::fd_stream || mode_ == Mode::fd_datagram ? "fd" : kModes[static_cast<int>(mode_)],
                 option_});
  if (!localaddr_.empty()) out.push_back({"localaddr", localaddr_});
  bool stream = !datagram_sender_;
  if (stream) {
    out.push_back({"connected", fd_.get() >= 0 && !connect_watch_});
    if (!peer_address_.empty()) out.push_back({"remote", peer_address_});
    out.push_back({"connections", static_cast<int64_t>(connections_)});
  } else {
    out.push_back({"socket-type", std::string("datagram")});
  }
  append_inbound_details(out);
  for (auto& detail : stream ? stream_sender_.details() : datagram_sender_->details()) out.push_back(std::move(detail));
  if (stream && !last_stream_error_.empty()) out.push_back({"last-stream-error", last_stream_error_});
  return out;
}

}  // namespace vnet::socket
