#include "ctl/announcer.h"

#include <sys/epoll.h>
#include <time.h>

#include <algorithm>

#include "backends/nic/announce_frames.h"
#include "backends/nic/nic_backend.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/timer_fd.h"

namespace vnet {

int64_t announce_delay_ms(const qapi::AnnounceParameters& params, int64_t rounds_left) {
  // QEMU: initial + (rounds - round - 1) * step, with round = rounds left;
  // in 128 bits, since a large step times a large round overflows 64.
  __int128 delay = __int128{params.initial} + __int128{params.rounds - rounds_left - 1} * params.step;
  return static_cast<int64_t>(std::min<__int128>(delay, params.max));
}

Announcer::~Announcer() {
  for (auto& [id, timer] : timers_) loop_.remove(timer->fd.get());
}

namespace {

int64_t monotonic_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

}  // namespace

Result<Announcer::Timer*> Announcer::make_timer(const qapi::AnnounceParameters& params, int64_t rounds_left) {
  std::string id = params.id.value_or("");
  cancel(id);
  auto timer = std::make_unique<Timer>();
  timer->params = params;
  timer->rounds_left = rounds_left;
  auto fd_made = timer_fd::create("announce timer '" + id + "'");
  if (!fd_made) return fd_made.take_error();
  timer->fd = std::move(*fd_made);
  int fd = timer->fd.get();
  auto on_expiry = [this, id, fd](uint32_t) {
    if (timer_fd::take_expirations(fd) > 0) fire(id);
  };
  if (auto added = loop_.add(fd, EPOLLIN, on_expiry); !added) return added.take_error();
  Timer* made = timer.get();
  timers_[id] = std::move(timer);
  return made;
}

Result<void> Announcer::start(const qapi::AnnounceParameters& params) {
  if (params.rounds == 0) {  // QEMU: the timer is deleted, nothing sent
    cancel(params.id.value_or(""));
    if (on_change_) on_change_();
    return {};
  }
  auto timer = make_timer(params, params.rounds);
  if (!timer) return timer.take_error();
  fire(params.id.value_or(""));  // QEMU sends the first round from the command itself
  return {};
}

std::vector<Announcer::Snapshot> Announcer::snapshot() const {
  std::vector<Snapshot> out;
  for (const auto& [id, timer] : timers_) out.push_back({timer->params, timer->rounds_left, timer->due_ms});
  return out;
}

Result<void> Announcer::resume(const Snapshot& snapshot) {
  if (snapshot.rounds_left <= 0) return {};
  auto timer = make_timer(snapshot.params, snapshot.rounds_left);
  if (!timer) return timer.take_error();
  // Due while no daemon ran: at once. (The saved time may be any int64.)
  int64_t now = monotonic_ms();
  arm(snapshot.params.id.value_or(""), **timer, snapshot.due_ms <= now ? 0 : snapshot.due_ms - now);
  return {};
}

void Announcer::arm(const std::string& id, Timer& timer, int64_t delay) {
  // delay >= 0 may be up to INT64_MAX (max and step are any int64): saturate.
  int64_t now = monotonic_ms();
  timer.due_ms = delay > INT64_MAX - now ? INT64_MAX : now + delay;
  if (auto armed = timer_fd::arm_ms(timer.fd.get(), delay); !armed) {
    log::error("announce timer '" + id + "': " + armed.error().message + "; stopped");
    cancel(id);
  }
}

void Announcer::cancel(const std::string& id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  loop_.remove(it->second->fd.get());
  // The timer may be the one whose callback is running: free it afterwards.
  std::shared_ptr<Timer> doomed(std::move(it->second));
  timers_.erase(it);
  loop_.defer([doomed] {});
}

void Announcer::fire(const std::string& id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  Timer& timer = *it->second;
  send_round(timer.params);
  bool finished = --timer.rounds_left <= 0;
  if (finished) {
    cancel(id);
  } else {
    int64_t delay = std::max<int64_t>(announce_delay_ms(timer.params, timer.rounds_left), 0);
    // QEMU sends rounds with no delay back to back, one per main-loop turn;
    // a long run of them (rounds in the millions, all delays 0) would take a
    // whole CPU for as long. After a few, at most one a millisecond.
    timer.back_to_back = delay == 0 ? timer.back_to_back + 1 : 0;
    if (timer.back_to_back > kMaxBackToBackRounds) delay = 1;
    arm(id, timer, delay);
  }
  // A timer's progress is saved at most once a second: a restart may send a
  // round or two again (announcements are idempotent), and a long run of
  // rounds does not write the state once per round.
  if (int64_t now = monotonic_ms(); finished || now - last_saved_ms_ >= 1000) {
    last_saved_ms_ = now;
    if (on_change_) on_change_();
  }
}

// As qemu_announce_self_iter(): every NIC, or those named in interfaces
// (names that match nothing are ignored), in the order they were added.
void Announcer::send_round(const qapi::AnnounceParameters& params) {
  for (const auto& entry : registry_.all()) {
    if (entry->type != qapi::NetClientDriver::nic) continue;
    if (params.interfaces &&
        std::find(params.interfaces->begin(), params.interfaces->end(), entry->id) == params.interfaces->end()) {
      continue;
    }
    // qemu_send_packet_raw() drops what a NIC with its link down or without a
    // peer sends.
    NetdevEntry* peer = registry_.find(entry->peer);
    if (!entry->link_up || !peer) continue;
    // Found as the commands find NICs (a nic netdev's backend is always a
    // NicBackend in vnetd; the fuzz targets' fake backends are not).
    auto* nic = dynamic_cast<nic::NicBackend*>(entry->backend.get());
    if (!nic) continue;
    announce_nic(*entry, *nic, *peer);
  }
}

void Announcer::announce_nic(const NetdevEntry& nic_entry, nic::NicBackend& nic, NetdevEntry& peer) {
  for (const auto& frame : nic::announce_frames(nic.identity().mac, nic.announce_addresses())) {
    std::string path;
    std::string failure;
    if (int ifindex = peer.backend->guest_tx_ifindex(); ifindex && path_ == Path::kAuto && injector()) {
      if (auto injected = injector_->inject(ifindex, frame)) path = "xdp-live-frame";
      else failure = injected.error().message;
    }
    if (path.empty()) {
      if (auto written = peer.backend->send_from_guest(frame)) {
        path = "tap-write";
      } else {
        log::warning("announce: NIC '" + nic_entry.id + "' via '" + peer.id + "': " + written.error().message);
        return;
      }
    }
    if (nic.record_announce(path)) {
      log::info("announce: NIC '" + nic_entry.id + "' sends its frames into '" + peer.id + "' by " + path +
                (failure.empty() ? "" : " (XDP live frame failed: " + failure + ")"));
    }
  }
}

ebpf::FrameInjector* Announcer::injector() {
  if (!injector_tried_) {
    injector_tried_ = true;
    if (auto loaded = ebpf::FrameInjector::load()) {
      injector_ = std::move(*loaded);
    } else {
      log::warning("announce: no XDP live frames (" + loaded.error().message + "); frames are written into taps");
    }
  }
  return injector_.get();
}

}  // namespace vnet
