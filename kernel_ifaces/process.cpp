#include "kernel_ifaces/process.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vnet::process {

namespace {

// Programs start with a fixed PATH and nothing of vnetd's environment (no
// LD_LIBRARY_PATH or LD_PRELOAD to hand a root process another library, no
// credentials from the unit).
char* const* clean_environment() {
  static char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  static char* const env[] = {path, nullptr};
  return env;
}

}  // namespace

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)), name_(std::move(other.name_)) {}

Child::~Child() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result<void> Child::wait(std::chrono::milliseconds timeout) {
  pid_t pid = std::exchange(pid_, -1);
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int ready;
    do ready = poll(&p, 1, static_cast<int>(timeout.count()));
    while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return Error{ETIMEDOUT, name_ + " did not finish within " + std::to_string(timeout.count()) + " ms"};
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_error("waiting for " + name_);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status)) return Error{0, name_ + " failed with status " + std::to_string(WEXITSTATUS(status))};
  return Error{0, name_ + " was killed by signal " + std::to_string(WTERMSIG(status))};
}

Result<Child> spawn(const std::vector<std::string>& argv, const std::vector<int>& keep_fds) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto itself clears FD_CLOEXEC in the child only.
  for (int fd : keep_fds) posix_spawn_file_actions_adddup2(&actions, fd, fd);
  pid_t pid = 0;
  int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), clean_environment());
  posix_spawn_file_actions_destroy(&actions);
  if (err) return Error::from_errno(err, "starting " + argv[0]);
  // A pidfd lets wait() time out; without one (old kernels) wait() blocks.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  return Child(pid, std::move(pidfd), argv[0]);
}

Result<void> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                 const std::vector<int>& keep_fds) {
  auto child = spawn(argv, keep_fds);
  if (!child) return child.take_error();
  return child->wait(timeout);
}

}  // namespace vnet::process
