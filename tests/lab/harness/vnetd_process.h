// VnetdProcess - a vnetd of the test's own, on a socket in a fresh directory;
// stopped with SIGTERM when the object goes.
#pragma once

#include <sys/types.h>

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::lab {

class VnetdProcess {
 public:
  // Starts vnetd (with --config FILE if given) and waits until its socket
  // accepts connections.
  static Result<VnetdProcess> start(const std::string& config_file = "");
  VnetdProcess(VnetdProcess&& other) noexcept;
  VnetdProcess& operator=(VnetdProcess&&) = delete;
  ~VnetdProcess();

  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }

  // SIGTERM, then waits; returns the exit status (0 is a clean stop).
  Result<int> stop();
  // SIGKILL (a crash: nothing cleaned up), then a new vnetd on the same
  // state dir and socket, serving once it has restored.
  Result<void> kill_and_restart();

  // The binary: $VNETD, else build/bin/vnetd beside a build/tests/lab
  // program, else "vnetd" on PATH.
  static std::string binary();

 private:
  VnetdProcess() = default;
  Result<void> launch();

  pid_t pid_ = -1;
  std::string dir_;
  std::string socket_;
  std::string config_file_;
};

}  // namespace vnet::lab
