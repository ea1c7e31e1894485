#include "backends/user/guestfwd_stream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vnet::user {

namespace {

// Connects a non-blocking socket, waiting at most timeout_ms; 0 or an errno.
int connect_within(int fd, const sockaddr* address, socklen_t length, int timeout_ms) {
  if (::connect(fd, address, length) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd ready{fd, POLLOUT, 0};
  int polled = ::poll(&ready, 1, timeout_ms);
  if (polled < 0) return errno;
  if (polled == 0) return ETIMEDOUT;
  int error = 0;
  socklen_t size = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0) return errno;
  return error;
}

// As QEMU's client socket chardev: each address getaddrinfo() gives, in
// order, until one connects. Returns the connected socket or the last errno.
Result<UniqueFd> connect_tcp(const GuestfwdTarget& target, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int resolved = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found);
  if (resolved != 0) return guestfwd_open_error(port, EHOSTUNREACH);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
  int error = ECONNREFUSED;
  for (addrinfo* address = found; address; address = address->ai_next) {
    UniqueFd fd(::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         address->ai_protocol));
    if (!fd) {
      error = errno;
      continue;
    }
    error = connect_within(fd.get(), address->ai_addr, address->ai_addrlen, GuestfwdStream::kConnectTimeoutMs);
    if (error) continue;
    int on = target.nodelay ? 1 : 0;
    if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) return guestfwd_open_error(port, errno);
    return fd;
  }
  return guestfwd_open_error(port, error);
}

Result<UniqueFd> connect_unix(const GuestfwdTarget& target, int port) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (target.path.size() >= sizeof address.sun_path) return guestfwd_open_error(port, ENAMETOOLONG);
  std::memcpy(address.sun_path, target.path.data(), target.path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return guestfwd_open_error(port, errno);
  int error = connect_within(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address,
                             GuestfwdStream::kConnectTimeoutMs);
  if (error) return guestfwd_open_error(port, error);
  return fd;
}

}  // namespace

GuestfwdStream::GuestfwdStream(datapath::FrameLoop& loop, UniqueFd fd, Room room, Deliver deliver)
    : loop_(loop), fd_(std::move(fd)), null_(!fd_), room_(std::move(room)), deliver_(std::move(deliver)) {}

Result<std::unique_ptr<GuestfwdStream>> GuestfwdStream::open(const GuestfwdTarget& target, int port,
                                                             datapath::FrameLoop& loop, Room room, Deliver deliver) {
  UniqueFd fd;
  if (target.kind != GuestfwdTarget::Kind::null) {
    auto connected = target.kind == GuestfwdTarget::Kind::tcp ? connect_tcp(target, port) : connect_unix(target, port);
    if (!connected) return connected.take_error();
    fd = std::move(*connected);
  }
  return std::unique_ptr<GuestfwdStream>(
      new GuestfwdStream(loop, std::move(fd), std::move(room), std::move(deliver)));
}

GuestfwdStream::~GuestfwdStream() {
  if (watch_) loop_.unwatch(*watch_);
}

ssize_t GuestfwdStream::on_slirp_write(const void* data, size_t size, void* opaque) {
  static_cast<GuestfwdStream*>(opaque)->send({static_cast<const uint8_t*>(data), size});
  return static_cast<ssize_t>(size);
}

void GuestfwdStream::send(std::span<const uint8_t> bytes) {
  if (!fd_) {  // the null sink takes everything; a host end that has gone, nothing
    (null_ ? bytes_to_host_ : drops_) += bytes.size();
    return;
  }
  if (pending_.empty()) {
    ssize_t written = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      drops_ += bytes.size();
      close_stream();
      return;
    }
    size_t done = written > 0 ? static_cast<size_t>(written) : 0;
    bytes_to_host_ += done;
    bytes = bytes.subspan(done);
  }
  size_t kept = std::min(bytes.size(), kMaxPending - std::min(kMaxPending, pending_.size()));
  pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(kept));
  drops_ += bytes.size() - kept;
  refresh();
}

void GuestfwdStream::refresh() {
  uint32_t wanted = 0;
  if (fd_) {
    if (!pending_.empty()) wanted |= POLLOUT;
    if (room_() > 0) wanted |= POLLIN;
  }
  if (watch_ && wanted == watched_events_) return;
  if (watch_) {
    loop_.unwatch(*watch_);
    watch_.reset();
  }
  watched_events_ = wanted;
  if (!wanted) return;
  auto watch = loop_.watch(fd_.get(), wanted, [this](uint32_t revents) { on_ready(revents); });
  if (!watch) {
    // The loop cannot watch it: nothing would ever move on this stream.
    drops_ += pending_.size();
    close_stream();
    return;
  }
  watch_ = *watch;
}

void GuestfwdStream::on_ready(uint32_t revents) {
  if (fd_ && (revents & POLLOUT)) write_pending();
  if (fd_ && (revents & (POLLIN | POLLHUP | POLLERR))) read_some();
  refresh();
}

// The loop's poll watches fire on readiness changes, not while a socket stays
// ready, so both directions go on until the socket or the guest says stop.
void GuestfwdStream::write_pending() {
  while (fd_ && !pending_.empty()) {
    ssize_t written = ::send(fd_.get(), pending_.data(), pending_.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      drops_ += pending_.size();
      close_stream();
      return;
    }
    bytes_to_host_ += static_cast<size_t>(written);
    pending_.erase(pending_.begin(), pending_.begin() + written);
  }
}

void GuestfwdStream::read_some() {
  uint8_t buffer[65536];
  while (fd_) {
    size_t room = room_();
    if (room == 0) return;  // refresh() stops watching until the guest has room
    ssize_t got = ::recv(fd_.get(), buffer, std::min(room, sizeof buffer), 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (got <= 0) {  // the host end has gone, as a chardev's disconnect
      close_stream();
      return;
    }
    bytes_to_guest_ += static_cast<size_t>(got);
    deliver_({buffer, static_cast<size_t>(got)});
  }
}

void GuestfwdStream::close_stream() {
  if (watch_) loop_.unwatch(*watch_);
  watch_.reset();
  watched_events_ = 0;
  pending_.clear();
  fd_.reset();
}

}  // namespace vnet::user
