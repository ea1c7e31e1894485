#include "ctl/netns_watch.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <vector>

#include "kernel_ifaces/log.h"

namespace vnet {

namespace {

// The PID of a /proc/PID/... path, or 0 (also for /proc/self: vnetd's own).
pid_t proc_pid(const std::string& path) {
  constexpr std::string_view kProc = "/proc/";
  if (path.compare(0, kProc.size(), kProc) != 0) return 0;
  const char* first = path.data() + kProc.size();
  const char* last = path.data() + path.size();
  pid_t pid = 0;
  auto [end, error] = std::from_chars(first, last, pid);
  if (error != std::errc() || end == first || (end != last && *end != '/')) return 0;
  return pid;
}

}  // namespace

class NetnsWatch::Token : public tap::NamespaceWatch {
 public:
  Token(NetnsWatch& watch, std::string id) : watch_(watch), id_(std::move(id)) {}
  ~Token() override { watch_.forget(id_); }

 private:
  NetnsWatch& watch_;
  std::string id_;
};

Result<std::unique_ptr<NetnsWatch>> NetnsWatch::create(EventLoop& loop, OnGone on_gone) {
  UniqueFd mountinfo(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (!mountinfo) return errno_error("opening /proc/self/mountinfo");
  std::unique_ptr<NetnsWatch> watch(new NetnsWatch(loop, std::move(on_gone), std::move(mountinfo)));
  auto timer = LoopTimer::create(loop, [raw = watch.get()] { raw->check_all(); });
  if (!timer) return timer.take_error();
  watch->timer_ = std::move(*timer);
  // The mount table's file polls EPOLLPRI once for each change (and resets
  // by being polled): nothing need be read.
  if (auto added = loop.add(watch->mountinfo_.get(), EPOLLPRI, [raw = watch.get()](uint32_t) { raw->check_soon(); });
      !added) {
    return added.take_error();
  }
  return watch;
}

NetnsWatch::~NetnsWatch() {
  for (auto& [id, watched] : watched_) {
    if (watched.pidfd) loop_.remove(watched.pidfd.get());
  }
  loop_.remove(mountinfo_.get());
}

std::unique_ptr<tap::NamespaceWatch> NetnsWatch::watch(const std::string& id, std::shared_ptr<netns::Netns> netns) {
  Watched watched{std::move(netns), UniqueFd()};
  if (pid_t pid = proc_pid(watched.netns->path())) {
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd) {
      (void)loop_.add(pidfd.get(), EPOLLIN, [this, id](uint32_t) { report_if_gone(id); });
      watched.pidfd = std::move(pidfd);
    }
  }
  watched_.insert_or_assign(id, std::move(watched));
  // The namespace may have lost its name between open() and here.
  check_soon();
  return std::make_unique<Token>(*this, id);
}

void NetnsWatch::forget(const std::string& id) {
  auto found = watched_.find(id);
  if (found == watched_.end()) return;
  if (found->second.pidfd) loop_.remove(found->second.pidfd.get());
  watched_.erase(found);
}

void NetnsWatch::check_soon() {
  if (!timer_->armed()) timer_->arm_ms(kCheckDelayMs);
}

void NetnsWatch::check_all() {
  std::vector<std::string> gone;
  for (const auto& [id, watched] : watched_) {
    if (!watched.netns->still_named()) gone.push_back(id);
  }
  // Reported after the walk: removing a netdev forgets its entry.
  for (const auto& id : gone) {
    if (watched_.contains(id)) report_if_gone(id);
  }
}

void NetnsWatch::report_if_gone(const std::string& id) {
  auto found = watched_.find(id);
  if (found == watched_.end() || found->second.netns->still_named()) {
    if (found != watched_.end() && found->second.pidfd) {
      // The process exited, but the path names the namespace still (a
      // recycled PID cannot: the path would name another): stop polling.
      loop_.remove(found->second.pidfd.get());
      found->second.pidfd.reset();
    }
    return;
  }
  log::info("netdev '" + id + "': netns '" + found->second.netns->path() + "' is gone; removing the netdev");
  std::string copy = id;  // the entry goes while the netdev is removed
  on_gone_(copy);
}

}  // namespace vnet
