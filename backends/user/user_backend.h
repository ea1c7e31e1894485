// UserBackend - the user netdev: a libslirp stack (NAT, DHCP, DNS, TFTP,
// port forwards) behind the frame loop. Frames from the peer go into
// slirp_input(); frames slirp makes go to the peer. Slirp's sockets are
// watched on the frame loop and its timers run on a timerfd watched there too,
// so one io_uring serves it with every other userspace port.
#pragma once

#include <poll.h>
#include <slirp/libslirp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"
#include "backends/user/guestfwd_stream.h"
#include "backends/user/user_options.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::user {

class UserBackend : public Backend, private datapath::BatchFlush {
 public:
  static Result<std::unique_ptr<UserBackend>> create(const qapi::NetdevUserOptions& options,
                                                     datapath::FrameLoop& loop);
  ~UserBackend() override;

  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  Result<void> peer_connected(Backend& peer) override {
    peer_ = &peer;
    return {};
  }
  void peer_disconnected(Backend&) override { peer_ = nullptr; }
  std::vector<Detail> details() const override;

  struct Timer;

 private:
  struct Slirp_Deleter {
    void operator()(Slirp* slirp) const { slirp_cleanup(slirp); }
  };
  struct Watched {
    uint32_t watch;
    int events;
  };
  // A guestfwd to a chardev-like target; slirp names it by server and port.
  struct ChardevForward {
    in_addr server{};
    int port = 0;
    std::string rule;
    std::unique_ptr<GuestfwdStream> stream;
  };

  explicit UserBackend(datapath::FrameLoop& loop, UserPlan plan);
  Result<void> start();
  Result<void> set_up_forwards();
  Result<void> set_up_hostfwd(const std::string& rule);
  Result<void> set_up_guestfwd(const std::string& rule);
  Result<void> set_up_smb();
  // Rounds of slirp_pollfds_poll in one cycle(), so that a busy slirp does
  // not hold the frame loop.
  static constexpr int kRounds = 16;
  // Lets slirp handle what its sockets and timers have for it, then watches
  // what it wants watched; safe to call from anywhere (re-entry is deferred).
  void cycle();
  void run_timers();
  void arm_timerfd(uint32_t slirp_timeout_ms);
  void flush_batch() override { copies_.clear(); }

  // libslirp's callbacks.
  static ssize_t on_send_packet(const void* data, size_t size, void* opaque);
  static void on_guest_error(const char* message, void* opaque);
  static int64_t on_clock_get_ns(void* opaque);
  static void* on_timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque);
  static void on_timer_free(void* timer, void* opaque);
  static void on_timer_mod(void* timer, int64_t expire_ms, void* opaque);
  static void on_register_poll_fd(int fd, void* opaque);
  static void on_unregister_poll_fd(int fd, void* opaque);
  static void on_notify(void* opaque);
  static int on_add_poll(int fd, int events, void* opaque);
  static int on_get_revents(int index, void* opaque);

  datapath::FrameLoop& loop_;
  UserPlan plan_;
  SlirpCb callbacks_{};
  std::vector<const char*> dnssearch_;
  std::unique_ptr<Slirp, Slirp_Deleter> slirp_;
  UniqueFd timerfd_;
  std::optional<uint32_t> timer_watch_;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<pollfd> pollfds_;  // the last slirp_pollfds_fill()
  std::map<int, Watched> watched_;
  std::vector<std::unique_ptr<ChardevForward>> chardev_forwards_;
  std::deque<std::vector<uint8_t>> copies_;  // frames slirp made, kept for the batch
  std::string smb_dir_;
  bool in_cycle_ = false, cycle_again_ = false;
  Backend* peer_ = nullptr;
  uint64_t frames_in_ = 0, bytes_in_ = 0, frames_out_ = 0, bytes_out_ = 0, drops_no_peer_ = 0, guest_errors_ = 0;
  std::string last_guest_error_;
};

}  // namespace vnet::user
