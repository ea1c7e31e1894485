#include "ctl/netns_watch.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
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
  UniqueFd inotify(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return errno_error("inotify_init1");
  std::unique_ptr<NetnsWatch> watch(
      new NetnsWatch(loop, std::move(on_gone), std::move(mountinfo), std::move(inotify)));
  if (auto added = loop.add(watch->inotify_.get(), EPOLLIN, [raw = watch.get()](uint32_t) { raw->on_directory_events(); });
      !added) {
    return added.take_error();
  }
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
  loop_.remove(inotify_.get());
}

std::unique_ptr<tap::NamespaceWatch> NetnsWatch::watch(const std::string& id, std::shared_ptr<netns::Netns> netns) {
  Watched watched{std::move(netns), UniqueFd(), false};
  if (pid_t pid = proc_pid(watched.netns->path())) {
    // No pidfd (the process is gone already): the check below finds it.
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd) {
      (void)loop_.add(pidfd.get(), EPOLLIN, [this, id](uint32_t) { on_process_exit(id); });
      watched.pidfd = std::move(pidfd);
    }
  } else {
    watch_directory_of(id, watched.netns->path());
    watched.in_directory = true;
  }
  watched_.insert_or_assign(id, std::move(watched));
  // The namespace may have lost its name between open() and here.
  loop_.defer([this, id] { report_if_gone(id); });
  return std::make_unique<Token>(*this, id);
}

void NetnsWatch::forget(const std::string& id) {
  auto found = watched_.find(id);
  if (found == watched_.end()) return;
  if (found->second.pidfd) loop_.remove(found->second.pidfd.get());
  if (found->second.in_directory) forget_directory_of(id, found->second.netns->path());
  watched_.erase(found);
}

void NetnsWatch::watch_directory_of(const std::string& id, const std::string& path) {
  ids_by_path_.emplace(path, id);
  std::string directory = path.substr(0, path.rfind('/'));
  Directory& entry = directories_[directory];
  if (entry.paths++ > 0) return;
  entry.wd = inotify_add_watch(inotify_.get(), directory.empty() ? "/" : directory.c_str(),
                               IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
  if (entry.wd < 0) {
    // The mount table's changes still find it, later.
    log::warning("watching " + directory + " for netns paths going: " + std::strerror(errno));
    return;
  }
  directory_of_wd_[entry.wd] = directory;
}

void NetnsWatch::forget_directory_of(const std::string& id, const std::string& path) {
  auto [first, last] = ids_by_path_.equal_range(path);
  for (auto it = first; it != last; ++it) {
    if (it->second == id) {
      ids_by_path_.erase(it);
      break;
    }
  }
  std::string directory = path.substr(0, path.rfind('/'));
  auto found = directories_.find(directory);
  if (found == directories_.end() || --found->second.paths > 0) return;
  if (found->second.wd >= 0) {
    inotify_rm_watch(inotify_.get(), found->second.wd);
    directory_of_wd_.erase(found->second.wd);
  }
  directories_.erase(found);
}

// A name removed from a watched directory: the netdevs of that path alone.
void NetnsWatch::on_directory_events() {
  alignas(inotify_event) char buffer[16 << 10];
  std::vector<std::string> candidates;
  for (;;) {
    ssize_t got = read(inotify_.get(), buffer, sizeof(buffer));
    if (got <= 0) break;
    for (ssize_t at = 0; at < got;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      if (event->mask & IN_Q_OVERFLOW) {
        check_soon();
        continue;
      }
      auto directory = directory_of_wd_.find(event->wd);
      if (directory == directory_of_wd_.end() || event->len == 0) continue;
      auto [first, last] = ids_by_path_.equal_range(directory->second + "/" + event->name);
      for (auto it = first; it != last; ++it) candidates.push_back(it->second);
    }
  }
  for (const auto& id : candidates) report_if_gone(id);
}

void NetnsWatch::check_soon() {
  if (!timer_->armed()) timer_->arm_ms(kMountCheckDelayMs);
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

void NetnsWatch::on_process_exit(const std::string& id) {
  auto found = watched_.find(id);
  if (found == watched_.end() || !found->second.pidfd) return;
  // Readable once, for good: polled no more, whatever the check says.
  loop_.remove(found->second.pidfd.get());
  found->second.pidfd.reset();
  report_if_gone(id);
}

void NetnsWatch::report_if_gone(const std::string& id) {
  auto found = watched_.find(id);
  if (found == watched_.end() || found->second.netns->still_named()) return;
  log::info("netdev '" + id + "': netns '" + found->second.netns->path() + "' is gone; removing the netdev");
  std::string copy = id;  // the entry goes while the netdev is removed
  on_gone_(copy);
}

}  // namespace vnet
