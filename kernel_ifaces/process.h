// process - running a helper program (ifup/ifdown scripts, bridge helpers)
// with a deadline, so that a hung script cannot hang the daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::process {

// A started program; destroying it without wait() kills and reaps it.
class Child {
 public:
  Child(pid_t pid, UniqueFd pidfd, std::string name) : pid_(pid), pidfd_(std::move(pidfd)), name_(std::move(name)) {}
  Child(Child&& other) noexcept;
  Child& operator=(Child&&) = delete;
  ~Child();

  // Fails if it is killed, exits non-zero, or outlives timeout (then killed).
  Result<void> wait(std::chrono::milliseconds timeout);
  // Readable once the program has exited; -1 where the kernel has no pidfds.
  int pidfd() const { return pidfd_.get(); }
  const std::string& name() const { return name_; }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  std::string name_;
};

// Starts argv[0] (a path: no PATH search, no shell) with argv, keeping
// keep_fds open in the child (all our other fds are close-on-exec), in a clean
// environment: PATH alone.
Result<Child> spawn(const std::vector<std::string>& argv, const std::vector<int>& keep_fds = {});

// spawn() then wait().
Result<void> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                 const std::vector<int>& keep_fds = {});

}  // namespace vnet::process
