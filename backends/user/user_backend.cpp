#include "backends/user/user_backend.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "kernel_ifaces/timer_fd.h"

namespace vnet::user {

namespace {

constexpr const char* kSmbd = "/usr/sbin/smbd";  // where QEMU's Debian build looks

int64_t now_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

short to_poll(int slirp_events) {
  short events = 0;
  if (slirp_events & SLIRP_POLL_IN) events |= POLLIN;
  if (slirp_events & SLIRP_POLL_OUT) events |= POLLOUT;
  if (slirp_events & SLIRP_POLL_PRI) events |= POLLPRI;
  return events;
}

int to_slirp(short revents) {
  int events = 0;
  if (revents & POLLIN) events |= SLIRP_POLL_IN;
  if (revents & POLLOUT) events |= SLIRP_POLL_OUT;
  if (revents & POLLPRI) events |= SLIRP_POLL_PRI;
  if (revents & POLLERR) events |= SLIRP_POLL_ERR;
  if (revents & POLLHUP) events |= SLIRP_POLL_HUP;
  return events;
}

}  // namespace

struct UserBackend::Timer {
  SlirpTimerId id;
  void* cb_opaque;
  int64_t expire_ms = -1;  // -1: not armed
};

UserBackend::UserBackend(datapath::FrameLoop& loop, UserPlan plan) : loop_(loop), plan_(std::move(plan)) {}

Result<std::unique_ptr<UserBackend>> UserBackend::create(const qapi::NetdevUserOptions& options,
                                                         datapath::FrameLoop& loop) {
  auto plan = plan_user(options);
  if (!plan) return plan.take_error();
  std::unique_ptr<UserBackend> backend(new UserBackend(loop, std::move(*plan)));
  if (auto started = backend->start(); !started) return started.take_error();
  return backend;
}

Result<void> UserBackend::start() {
  auto timer = timer_fd::create("the user netdev's timers");
  if (!timer) return timer.take_error();
  timerfd_ = std::move(*timer);
  callbacks_.send_packet = &UserBackend::on_send_packet;
  callbacks_.guest_error = &UserBackend::on_guest_error;
  callbacks_.clock_get_ns = &UserBackend::on_clock_get_ns;
  callbacks_.timer_free = &UserBackend::on_timer_free;
  callbacks_.timer_mod = &UserBackend::on_timer_mod;
  callbacks_.register_poll_fd = &UserBackend::on_register_poll_fd;
  callbacks_.unregister_poll_fd = &UserBackend::on_unregister_poll_fd;
  callbacks_.notify = &UserBackend::on_notify;
  callbacks_.timer_new_opaque = &UserBackend::on_timer_new_opaque;

  for (const auto& name : plan_.dnssearch) dnssearch_.push_back(name.c_str());
  dnssearch_.push_back(nullptr);
  SlirpConfig config{};
  config.version = 4;
  config.restricted = plan_.restricted;
  config.in_enabled = plan_.ipv4;
  config.vnetwork = plan_.net;
  config.vnetmask = plan_.mask;
  config.vhost = plan_.host;
  config.in6_enabled = plan_.ipv6;
  config.vprefix_addr6 = plan_.prefix6;
  config.vprefix_len = static_cast<uint8_t>(plan_.prefix6_len);
  config.vhost6 = plan_.host6;
  config.vhostname = plan_.hostname ? plan_.hostname->c_str() : nullptr;
  config.tftp_server_name = plan_.tftp_server_name ? plan_.tftp_server_name->c_str() : nullptr;
  config.tftp_path = plan_.tftp ? plan_.tftp->c_str() : nullptr;
  config.bootfile = plan_.bootfile ? plan_.bootfile->c_str() : nullptr;
  config.vdhcp_start = plan_.dhcp_start;
  config.vnameserver = plan_.dns;
  config.vnameserver6 = plan_.dns6;
  config.vdnssearch = plan_.dnssearch.empty() ? nullptr : dnssearch_.data();
  config.vdomainname = plan_.domainname ? plan_.domainname->c_str() : nullptr;
  slirp_.reset(slirp_new(&config, &callbacks_, this));
  if (!slirp_) return Error{ENOMEM, "slirp_new failed"};
  if (auto set = set_up_forwards(); !set) return set;
  if (plan_.smb) {
    if (auto set = set_up_smb(); !set) return set;
  }
  auto watch = loop_.watch(timerfd_.get(), POLLIN, [this](uint32_t) {
    timer_fd::take_expirations(timerfd_.get());  // any wakeup runs what is due
    run_timers();
    cycle();
  });
  if (!watch) return watch.take_error();
  timer_watch_ = *watch;
  cycle();
  return {};
}

// In QEMU's order (UserPlan::forwards), each rule checked and then set up
// before the next, with QEMU's texts.
Result<void> UserBackend::set_up_forwards() {
  for (const auto& forward : plan_.forwards) {
    auto set = forward.host ? set_up_hostfwd(forward.rule) : set_up_guestfwd(forward.rule);
    if (!set) return set;
  }
  return {};
}

Result<void> UserBackend::set_up_hostfwd(const std::string& rule) {
  auto forward = parse_hostfwd(rule);
  if (!forward) return forward.take_error();
  if (slirp_add_hostxfwd(slirp_.get(), reinterpret_cast<const sockaddr*>(&forward->host), sizeof forward->host,
                         reinterpret_cast<const sockaddr*>(&forward->guest), sizeof forward->guest,
                         forward->udp ? SLIRP_HOSTFWD_UDP : 0) < 0) {
    return Error{EADDRINUSE, "Could not set up host forwarding rule '" + rule + "'"};
  }
  return {};
}

Result<void> UserBackend::set_up_guestfwd(const std::string& rule) {
  auto parsed = parse_guestfwd(rule);
  if (!parsed) return parsed.take_error();
  auto conflicting = [&] {
    return Error{EINVAL, "Conflicting/invalid host:port in guest forwarding rule '" + rule + "'"};
  };
  if (parsed->target.rfind("cmd:", 0) == 0) {
    if (slirp_add_exec(slirp_.get(), parsed->target.c_str() + 4, &parsed->server, parsed->port) < 0) {
      return conflicting();
    }
    return {};
  }
  // As QEMU: the chardev is opened first, then slirp checks the address.
  auto target = parse_guestfwd_target(parsed->target, parsed->port);
  if (!target) return target.take_error();
  auto forward = std::make_unique<ChardevForward>();
  forward->server = parsed->server;
  forward->port = parsed->port;
  forward->rule = rule;
  ChardevForward* f = forward.get();
  auto stream = GuestfwdStream::open(
      *target, parsed->port, loop_,
      [this, f] { return slirp_socket_can_recv(slirp_.get(), f->server, f->port); },
      [this, f](std::span<const uint8_t> bytes) {
        slirp_socket_recv(slirp_.get(), f->server, f->port, bytes.data(), static_cast<int>(bytes.size()));
        cycle();
      });
  if (!stream) return stream.take_error();
  forward->stream = std::move(*stream);
  // slirp_add_guestfwd() puts its default server (net + 4) in f->server.
  if (slirp_add_guestfwd(slirp_.get(), &GuestfwdStream::on_slirp_write, f->stream.get(), &f->server, f->port) < 0) {
    return conflicting();
  }
  chardev_forwards_.push_back(std::move(forward));
  return {};
}

// As QEMU's slirp_smb(): a private smbd per netdev, started by slirp when the
// guest connects to the SMB server address on 139 or 445.
Result<void> UserBackend::set_up_smb() {
  passwd* user = getpwuid(geteuid());
  if (!user) return Error{ENOENT, "Failed to retrieve user name"};
  if (access(kSmbd, F_OK) != 0) {
    return Error{ENOENT, std::string("Could not find '") + kSmbd + "', please install it"};
  }
  if (access(plan_.smb->c_str(), R_OK | X_OK) != 0) {
    return Error{errno, "Error accessing shared directory '" + *plan_.smb + "': " + std::strerror(errno)};
  }
  char pattern[] = "/tmp/vnetd-smb.XXXXXX";
  if (!mkdtemp(pattern)) return errno_error("Could not create samba server dir");
  smb_dir_ = pattern;
  std::string conf = smb_dir_ + "/smb.conf";
  std::ofstream out(conf);
  out << "[global]\nprivate dir=" << smb_dir_ << "\ninterfaces=127.0.0.1\nbind interfaces only=yes\npid directory="
      << smb_dir_ << "\nlock directory=" << smb_dir_ << "\nstate directory=" << smb_dir_ << "\ncache directory="
      << smb_dir_ << "\nncalrpc dir=" << smb_dir_ << "/ncalrpc\nlog file=" << smb_dir_ << "/log.smbd\nsmb passwd file="
      << smb_dir_ << "/smbpasswd\nsecurity = user\nmap to guest = Bad User\nload printers = no\nprinting = bsd\n"
      << "disable spoolss = yes\nusershare max shares = 0\n[qemu]\npath=" << *plan_.smb
      << "\nread only=no\nguest ok=yes\nforce user=" << user->pw_name << "\n";
  if (!out) return Error{EIO, "Could not create samba server configuration file '" + conf + "'"};
  out.close();
  std::string command = std::string(kSmbd) + " -l " + smb_dir_ + " -s " + conf;
  in_addr server = plan_.smb_server.value_or(in_addr{htonl(ntohl(plan_.net.s_addr) | 4)});
  if (slirp_add_exec(slirp_.get(), command.c_str(), &server, 139) < 0 ||
      slirp_add_exec(slirp_.get(), command.c_str(), &server, 445) < 0) {
    return Error{EINVAL, "Conflicting/invalid smbserver address"};
  }
  return {};
}

UserBackend::~UserBackend() {
  for (auto& [fd, watched] : watched_) loop_.unwatch(watched.watch);
  if (timer_watch_) loop_.unwatch(*timer_watch_);
  loop_.forget_flush(*this);
  slirp_.reset();
  chardev_forwards_.clear();
  if (!smb_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(smb_dir_, ignored);
  }
}

Result<void> UserBackend::send_from_guest(std::span<const uint8_t> frame) {
  frames_in_++;
  bytes_in_ += frame.size();
  slirp_input(slirp_.get(), frame.data(), static_cast<int>(frame.size()));
  cycle();
  return {};
}

void UserBackend::cycle() {
  if (!slirp_) return;
  if (in_cycle_) {
    cycle_again_ = true;
    return;
  }
  in_cycle_ = true;
  uint32_t timeout = UINT32_MAX;
  // Until slirp has nothing ready: each round asks which of its sockets are
  // ready now (a zero-timeout poll), and lets slirp handle them and its own
  // timers (slirp_pollfds_poll always runs those).
  bool more_ready = false;
  for (int round = 0; round < kRounds; round++) {
    cycle_again_ = false;
    pollfds_.clear();
    timeout = UINT32_MAX;
    slirp_pollfds_fill(slirp_.get(), &timeout, &UserBackend::on_add_poll, this);
    int ready = pollfds_.empty() ? 0 : ::poll(pollfds_.data(), pollfds_.size(), 0);
    slirp_pollfds_poll(slirp_.get(), ready < 0, &UserBackend::on_get_revents, this);
    more_ready = round == kRounds - 1 && (ready > 0 || cycle_again_);
    if (ready <= 0 && !cycle_again_) break;
  }
  // Watch what slirp now wants watched (its socket set changes as
  // connections come and go); the frame loop wakes us when one is ready.
  std::map<int, int> wanted;
  for (const auto& entry : pollfds_) wanted[entry.fd] |= entry.events;
  for (auto it = watched_.begin(); it != watched_.end();) {
    auto want = wanted.find(it->first);
    if (want == wanted.end() || want->second != it->second.events) {
      loop_.unwatch(it->second.watch);
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto [fd, events] : wanted) {
    if (watched_.count(fd) || !events) continue;
    auto watch = loop_.watch(fd, static_cast<uint32_t>(events), [this](uint32_t) { cycle(); });
    if (watch) watched_[fd] = {*watch, events};
  }
  for (auto& forward : chardev_forwards_) forward->stream->refresh();
  in_cycle_ = false;
  // Work left after the last round: come back at once (through the timerfd)
  // rather than wait for a socket's next wakeup, which may never come.
  arm_timerfd(more_ready ? 0 : timeout);
}

void UserBackend::run_timers() {
  int64_t now_ms = now_ns() / 1000000;
  for (size_t i = 0; i < timers_.size(); i++) {
    Timer& timer = *timers_[i];
    if (timer.expire_ms >= 0 && timer.expire_ms <= now_ms) {
      timer.expire_ms = -1;
      slirp_handle_timer(slirp_.get(), timer.id, timer.cb_opaque);
    }
  }
}

// The next wakeup: the earliest of slirp's timers and its poll timeout.
void UserBackend::arm_timerfd(uint32_t slirp_timeout_ms) {
  int64_t now_ms = now_ns() / 1000000;
  int64_t due_in = slirp_timeout_ms == UINT32_MAX ? -1 : int64_t{slirp_timeout_ms};
  for (const auto& timer : timers_) {
    if (timer->expire_ms < 0) continue;
    int64_t in = std::max<int64_t>(timer->expire_ms - now_ms, 0);
    if (due_in < 0 || in < due_in) due_in = in;
  }
  if (due_in < 0) {
    timer_fd::disarm(timerfd_.get());
  } else {
    (void)timer_fd::arm_ms(timerfd_.get(), std::max<int64_t>(due_in, 1));
  }
}

ssize_t UserBackend::on_send_packet(const void* data, size_t size, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  if (!self->peer_) {
    self->drops_no_peer_++;
    return static_cast<ssize_t>(size);
  }
  self->frames_out_++;
  self->bytes_out_ += size;
  std::span<const uint8_t> frame(static_cast<const uint8_t*>(data), size);
  // Slirp's buffer is gone when this returns; a peer in a batch may send by
  // reference until the batch ends, so it gets a copy kept that long: freed
  // in the release phase, after every peer's deferred send.
  if (self->loop_.in_batch()) {
    self->copies_.emplace_back(frame.begin(), frame.end());
    self->loop_.defer_release(*self);
    frame = self->copies_.back();
  }
  (void)self->peer_->send_from_guest(frame);
  return static_cast<ssize_t>(size);
}

void UserBackend::on_guest_error(const char* message, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  self->guest_errors_++;
  self->last_guest_error_ = message;
}

int64_t UserBackend::on_clock_get_ns(void*) { return now_ns(); }

void* UserBackend::on_timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  self->timers_.push_back(std::make_unique<Timer>(Timer{id, cb_opaque}));
  return self->timers_.back().get();
}

void UserBackend::on_timer_free(void* timer, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  std::erase_if(self->timers_, [timer](const auto& t) { return t.get() == timer; });
}

void UserBackend::on_timer_mod(void* timer, int64_t expire_ms, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  static_cast<Timer*>(timer)->expire_ms = expire_ms;
  if (!self->in_cycle_) self->arm_timerfd(UINT32_MAX);
}

void UserBackend::on_register_poll_fd(int, void*) {}  // fds come from slirp_pollfds_fill

// Slirp is about to close fd. Its number may come back for a new socket in the
// same cycle, so the watch on the old socket must go now, not when cycle()
// next compares the sets (it would see the number and keep the stale watch).
void UserBackend::on_unregister_poll_fd(int fd, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  auto it = self->watched_.find(fd);
  if (it == self->watched_.end()) return;
  self->loop_.unwatch(it->second.watch);
  self->watched_.erase(it);
}

void UserBackend::on_notify(void* opaque) { static_cast<UserBackend*>(opaque)->cycle(); }

int UserBackend::on_add_poll(int fd, int events, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  self->pollfds_.push_back(pollfd{fd, to_poll(events), 0});
  return static_cast<int>(self->pollfds_.size() - 1);
}

int UserBackend::on_get_revents(int index, void* opaque) {
  auto* self = static_cast<UserBackend*>(opaque);
  if (index < 0 || static_cast<size_t>(index) >= self->pollfds_.size()) return 0;
  return to_slirp(self->pollfds_[index].revents);
}

std::vector<Detail> UserBackend::details() const {
  char net[INET_ADDRSTRLEN], host[INET_ADDRSTRLEN], dhcp[INET_ADDRSTRLEN], dns[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &plan_.net, net, sizeof net);
  inet_ntop(AF_INET, &plan_.host, host, sizeof host);
  inet_ntop(AF_INET, &plan_.dhcp_start, dhcp, sizeof dhcp);
  inet_ntop(AF_INET, &plan_.dns, dns, sizeof dns);
  int prefix = __builtin_popcount(ntohl(plan_.mask.s_addr));
  std::vector<std::string> forwards = plan_.hostfwd;
  std::vector<Detail> out{{"ipv4", plan_.ipv4},
                          {"ipv6", plan_.ipv6},
                          {"net", std::string(net) + "/" + std::to_string(prefix)},
                          {"host", std::string(host)},
                          {"dhcpstart", std::string(dhcp)},
                          {"dns", std::string(dns)},
                          {"restrict", plan_.restricted},
                          {"hostfwd", forwards},
                          {"watched-fds", static_cast<int64_t>(watched_.size())},
                          {"frames-in", static_cast<int64_t>(frames_in_)},
                          {"bytes-in", static_cast<int64_t>(bytes_in_)},
                          {"frames-out", static_cast<int64_t>(frames_out_)},
                          {"bytes-out", static_cast<int64_t>(bytes_out_)},
                          {"drops-no-peer", static_cast<int64_t>(drops_no_peer_)},
                          {"guest-errors", static_cast<int64_t>(guest_errors_)}};
  for (const auto& forward : chardev_forwards_) {
    std::string prefix = "guestfwd-" + std::to_string(forward->port) + "-";
    out.push_back({prefix + "bytes-to-host", static_cast<int64_t>(forward->stream->bytes_to_host())});
    out.push_back({prefix + "bytes-to-guest", static_cast<int64_t>(forward->stream->bytes_to_guest())});
    out.push_back({prefix + "drops", static_cast<int64_t>(forward->stream->drops())});
  }
  if (!last_guest_error_.empty()) out.push_back({"last-guest-error", last_guest_error_});
  return out;
}

}  // namespace vnet::user
