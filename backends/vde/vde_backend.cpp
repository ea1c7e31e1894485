#include "backends/vde/vde_backend.h"

// libvdeplug.h declares C functions without extern "C".
extern "C" {
#include <libvdeplug.h>
}
#include <net/ethernet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "kernel_ifaces/fd_flags.h"

namespace vnet::vde {

namespace {

// Frames a batch can take before the data fd is polled afresh.
constexpr size_t kReceiveBuffers = 64;
// VDE_ETHBUFSIZE (libvdeplug.h) is the largest frame a VDE switch carries;
// one byte more shows a longer datagram as too long instead of cutting it.
constexpr size_t kReceiveBufferSize = VDE_ETHBUFSIZE + 1;
// How long one send waits for room in the switch's queue (a unix datagram
// socket takes net.unix.max_dgram_qlen frames) before the frame is dropped.
constexpr int kSendWaitMs = 5;

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

int64_t count(uint64_t value) { return static_cast<int64_t>(value); }

}  // namespace

OpenArgs open_args(const qapi::NetdevVdeOptions& options, const std::string& netdev_id) {
  OpenArgs args;
  args.url = options.sock.value_or("");
  args.port = options.port.value_or(0);
  args.group = options.group;
  args.mode = options.mode.value_or(0700);
  // libvdeplug appends " user=... PID=..."; the switch lists it per port.
  args.description = "vnetd netdev=" + netdev_id;
  return args;
}

Received decode_datagram(std::span<const uint8_t> buffer, size_t length) {
  if (length > VDE_ETHBUFSIZE || length > buffer.size()) return {Verdict::oversize, {}};
  if (length < ETH_HLEN) return {Verdict::runt, {}};
  return {Verdict::frame, buffer.first(length)};
}

VdeBackend::VdeBackend(datapath::FrameLoop& loop, VdeConnection connection, OpenArgs args)
    : loop_(loop), connection_(std::move(connection)), args_(std::move(args)) {}

Result<std::unique_ptr<VdeBackend>> VdeBackend::create(VdeConnection connection, OpenArgs args,
                                                       datapath::FrameLoop& loop) {
  std::unique_ptr<VdeBackend> backend(new VdeBackend(loop, std::move(connection), std::move(args)));
  if (auto started = backend->start(); !started) return started.take_error();
  return backend;
}

Result<void> VdeBackend::start() {
  // libvdeplug's vde plugin ignores recv/send flags on a blocking socket; the
  // daemon must never sleep in a recv, nor for long in a send.
  int data = connection_.data_fd();
  if (auto nonblocking = set_nonblocking(data, "the vde data fd"); !nonblocking) return nonblocking;
  auto watch = loop_.watch(data, POLLIN, [this](uint32_t revents) { data_ready(revents); });
  if (!watch) return watch.take_error();
  data_watch_ = *watch;
  if (int control = connection_.control_fd(); control >= 0) {
    auto watched = loop_.watch(control, POLLIN, [this](uint32_t revents) { control_ready(revents); });
    if (!watched) return watched.take_error();
    control_watch_ = *watched;
  }
  return {};
}

VdeBackend::~VdeBackend() {
  loop_.forget_flush(*this);
  if (data_watch_) loop_.unwatch(*data_watch_);
  if (control_watch_) loop_.unwatch(*control_watch_);
  // connection_ goes next: vde_close() closes the port on the switch.
}

std::span<uint8_t> VdeBackend::next_receive_buffer() {
  if (receive_used_ == receive_buffers_.size()) receive_buffers_.emplace_back(kReceiveBufferSize);
  return receive_buffers_[receive_used_];
}

void VdeBackend::data_ready(uint32_t revents) {
  if (!connected_) return;
  for (;;) {
    if (receive_used_ == kReceiveBuffers) {
      data_rearm_ = true;
      loop_.defer_flush(*this);
      return;
    }
    std::span<uint8_t> buffer = next_receive_buffer();
    ssize_t length = connection_.recv(buffer);
    if (length < 0 && errno == EINTR) continue;
    if (length < 0) {
      // Reading a socket's pending error clears it: no busy loop.
      if (!would_block(errno)) {
        receive_errors_++;
        last_error_ = errno;
      }
      break;
    }
    if (length == 0) {
      // An empty datagram, or the end of a stream-based plugin's stream.
      drops_runt_++;
      break;
    }
    receive_used_++;
    loop_.defer_flush(*this);
    Received received = decode_datagram(buffer, static_cast<size_t>(length));
    switch (received.verdict) {
      case Verdict::oversize: drops_oversize_++; break;
      case Verdict::runt: drops_runt_++; break;
      case Verdict::frame: deliver(received.frame); break;
    }
  }
  if (revents & POLLHUP) disconnected(EPIPE);
}

void VdeBackend::control_ready(uint32_t) {
  // The control connection is silent after the handshake: readable means the
  // switch closed the port (end of stream) or the connection failed.
  char byte;
  ssize_t got = ::recv(connection_.control_fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
  int error = got < 0 ? errno : 0;
  if (got == 0) {
    disconnected(0);
  } else if (error == ENOTSOCK) {
    // A plugin whose control fd is not a socket: nothing to learn from it.
    loop_.unwatch(*control_watch_);
    control_watch_.reset();
  } else if (got < 0 && !would_block(error) && error != EINTR) {
    disconnected(error);
  }
}

void VdeBackend::disconnected(int error) {
  connected_ = false;
  if (error) last_error_ = error;
  if (data_watch_) loop_.unwatch(*data_watch_);
  if (control_watch_) loop_.unwatch(*control_watch_);
  data_watch_.reset();
  control_watch_.reset();
}

void VdeBackend::flush_batch() {
  receive_used_ = 0;
  if (!data_rearm_ || !data_watch_) return;
  // A multishot poll fires on new frames only; a fresh one fires at once for
  // frames still queued, in the next batch.
  data_rearm_ = false;
  loop_.unwatch(*data_watch_);
  data_watch_.reset();
  auto watch = loop_.watch(connection_.data_fd(), POLLIN, [this](uint32_t revents) { data_ready(revents); });
  if (watch) data_watch_ = *watch;
  else disconnected(watch.error().errnum);
}

Result<void> VdeBackend::send_from_guest(std::span<const uint8_t> frame) {
  if (!connected_) {
    drops_disconnected_++;
    return Error{ENOTCONN, "vde: the switch closed the port"};
  }
  ssize_t sent = connection_.send(frame);
  int error = sent < 0 ? errno : 0;
  if (sent < 0 && would_block(error) && !stalled_) {
    pollfd room{connection_.data_fd(), POLLOUT, 0};
    if (poll(&room, 1, kSendWaitMs) > 0) {
      sent = connection_.send(frame);
      error = sent < 0 ? errno : 0;
    }
    stalled_ = sent < 0;
  }
  if (sent < 0) {
    last_error_ = error;
    if (would_block(error)) {
      drops_busy_++;
      return Error{error, "vde: the switch's queue is full"};
    }
    drops_send_error_++;
    return Error::from_errno(error, "vde_send");
  }
  stalled_ = false;
  frames_out_++;
  bytes_out_ += frame.size();
  return {};
}

std::vector<Detail> VdeBackend::details() const {
  std::vector<Detail> out{{"sock", args_.url},
                          {"port", static_cast<int64_t>(args_.port)},
                          {"connected", connected_},
                          {"drops-oversize", count(drops_oversize_)},
                          {"drops-runt", count(drops_runt_)},
                          {"receive-errors", count(receive_errors_)},
                          {"frames-out", count(frames_out_)},
                          {"bytes-out", count(bytes_out_)},
                          {"drops-busy", count(drops_busy_)},
                          {"drops-send-error", count(drops_send_error_)},
                          {"drops-disconnected", count(drops_disconnected_)}};
  append_inbound_details(out);
  if (args_.group) out.push_back({"group", *args_.group});
  if (last_error_) out.push_back({"last-error", std::string(std::strerror(last_error_))});
  return out;
}

}  // namespace vnet::vde
