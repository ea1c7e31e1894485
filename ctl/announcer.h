// Announcer - announce-self: named timers with QEMU's schedule
// (net/announce.c), each round sending every selected NIC's RARP into the
// network side of its backend as if the guest had sent it.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ctl/netdev_registry.h"
#include "ctl/loop/event_loop.h"
#include "ebpf/frame_injector.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet::nic {
class NicBackend;
}

namespace vnet {

// The delay before the round after `rounds_left` (rounds still to send after
// this one), as qemu_announce_timer_step(): initial, then growing by step,
// capped at max.
int64_t announce_delay_ms(const qapi::AnnounceParameters& params, int64_t rounds_left);

class Announcer {
 public:
  // Rounds with no delay sent back to back before they are spaced 1 ms apart.
  static constexpr int64_t kMaxBackToBackRounds = 8;
  // How frames get in; kAuto tries the XDP live-frame injection and falls
  // back to a write into the tap (VNETD_ANNOUNCE_PATH=tap-write forces it).
  enum class Path { kAuto, kTapWrite };

  Announcer(EventLoop& loop, NetdevRegistry& registry, Path path = Path::kAuto)
      : loop_(loop), registry_(registry), path_(path) {}
  ~Announcer();

  // As qmp_announce_self(): the timer named params.id (or the unnamed one)
  // is replaced; the first round goes out now; rounds=0 cancels the timer.
  Result<void> start(const qapi::AnnounceParameters& params);
  size_t active_timers() const { return timers_.size(); }

  // A running timer as the state file keeps it, so that a restarted daemon
  // carries on with the rounds left, at the time the next one was due.
  struct Snapshot {
    qapi::AnnounceParameters params;
    int64_t rounds_left = 0;
    int64_t due_ms = 0;  // CLOCK_MONOTONIC (the same for the whole boot)
  };
  std::vector<Snapshot> snapshot() const;
  Result<void> resume(const Snapshot& snapshot);
  // Told when a timer starts or ends, and of its rounds at most once a second
  // (the state file saves the rounds left).
  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }

 private:
  struct Timer {
    qapi::AnnounceParameters params;
    int64_t rounds_left = 0;
    int64_t due_ms = 0;
    int64_t back_to_back = 0;  // rounds in a row armed with no delay
    UniqueFd fd;  // a timerfd in the event loop
  };
  Result<Timer*> make_timer(const qapi::AnnounceParameters& params, int64_t rounds_left);
  void arm(const std::string& id, Timer& timer, int64_t delay_ms);

  void fire(const std::string& id);
  void send_round(const qapi::AnnounceParameters& params);
  void announce_nic(const NetdevEntry& nic_entry, nic::NicBackend& nic, NetdevEntry& peer);
  void cancel(const std::string& id);
  ebpf::FrameInjector* injector();

  EventLoop& loop_;
  NetdevRegistry& registry_;
  Path path_;
  std::map<std::string, std::unique_ptr<Timer>> timers_;
  std::unique_ptr<ebpf::FrameInjector> injector_;
  bool injector_tried_ = false;
  std::function<void()> on_change_;
  int64_t last_saved_ms_ = 0;  // when on_change_ last told of a round
};

}  // namespace vnet
