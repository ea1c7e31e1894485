// GuestfwdStream - the host end of a guestfwd rule whose target is one of
// QEMU's chardevs (tcp:HOST:PORT, unix:PATH, null), as QEMU 7.2's
// slirp_guestfwd() uses it: one stream, opened when the netdev is added and
// shared by the guest's connections to the rule's SERVER:PORT. Bytes the
// guest sends come from slirp's write callback; bytes from the host go to
// slirp only while slirp_socket_can_recv() says the guest's side has room,
// so the stream is read on the frame loop only then.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/datapath/frame_loop.h"
#include "backends/user/user_options.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::user {

class GuestfwdStream {
 public:
  // How much the guest's connection takes now (slirp_socket_can_recv).
  using Room = std::function<size_t()>;
  // Hands bytes from the host to the guest's connection (slirp_socket_recv).
  using Deliver = std::function<void(std::span<const uint8_t>)>;

  // Opens the target as QEMU does when it creates the chardev: a client
  // connection made at once (bounded by kConnectTimeoutMs), or the null sink.
  // `port` is the rule's guest port, which names the chardev in errors.
  static Result<std::unique_ptr<GuestfwdStream>> open(const GuestfwdTarget& target, int port,
                                                      datapath::FrameLoop& loop, Room room, Deliver deliver);
  ~GuestfwdStream();
  GuestfwdStream(const GuestfwdStream&) = delete;
  GuestfwdStream& operator=(const GuestfwdStream&) = delete;

  // Bytes from the guest. Slirp takes them as written, so what the host
  // cannot take now is kept (up to kMaxPending) and written when it can.
  void send(std::span<const uint8_t> bytes);
  // Watches the stream for what it needs now: reading while the guest has
  // room, writing while bytes wait. Called after slirp has run.
  void refresh();

  // Slirp's write callback; opaque is the GuestfwdStream.
  static ssize_t on_slirp_write(const void* data, size_t size, void* opaque);

  uint64_t bytes_to_host() const { return bytes_to_host_; }
  uint64_t bytes_to_guest() const { return bytes_to_guest_; }
  uint64_t drops() const { return drops_; }
  bool open_now() const { return fd_.valid(); }

  // QEMU blocks its whole main loop until a chardev write is done; vnetd keeps
  // this much for a slow host end and counts what goes beyond it as dropped.
  static constexpr size_t kMaxPending = 1 << 20;
  static constexpr int kConnectTimeoutMs = 5000;

 private:
  GuestfwdStream(datapath::FrameLoop& loop, UniqueFd fd, Room room, Deliver deliver);
  void on_ready(uint32_t revents);
  void read_some();
  void write_pending();
  void close_stream();

  datapath::FrameLoop& loop_;
  UniqueFd fd_;  // invalid: the null sink, or the host end has gone
  bool null_;
  Room room_;
  Deliver deliver_;
  std::vector<uint8_t> pending_;
  std::optional<uint32_t> watch_;
  uint32_t watched_events_ = 0;
  uint64_t bytes_to_host_ = 0, bytes_to_guest_ = 0, drops_ = 0;
};

}  // namespace vnet::user
