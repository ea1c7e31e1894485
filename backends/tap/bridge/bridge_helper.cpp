#include "backends/tap/bridge/bridge_helper.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "kernel_ifaces/process.h"
#include "kernel_ifaces/scm_rights.h"

namespace vnet::bridge {

namespace {

// Waits for one message carrying one fd.
Result<UniqueFd> receive_fd(int sock, std::chrono::milliseconds timeout) {
  pollfd p{sock, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return Error{ETIMEDOUT, "bridge helper sent no fd"};
  char byte;
  std::vector<UniqueFd> fds;
  auto got = scm::receive(sock, std::span<char>(&byte, 1), fds);
  if (!got) return Error{got.error().errnum, "receiving the bridge helper's fd: " + got.error().message};
  if (got->bytes == 0) return Error{EPROTO, "bridge helper exited without sending an fd"};
  if (fds.empty()) return Error{EPROTO, "bridge helper sent no fd"};
  return std::move(fds.front());
}

}  // namespace

Result<UniqueFd> run_bridge_helper(const std::vector<std::string>& helper, const std::string& bridge,
                                   std::chrono::milliseconds timeout) {
  if (helper.empty()) return Error{EINVAL, "bridge helper: no program"};
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return errno_error("socketpair for bridge helper");
  UniqueFd ours(pair[0]), theirs(pair[1]);
  std::string fd_arg = "--fd=" + std::to_string(theirs.get());
  std::string br_arg = "--br=" + bridge;
  // QEMU runs a helper given with arguments through /bin/sh -c with br=
  // pasted in; here its words are the argv, and br= one argument of its own.
  std::vector<std::string> argv = helper;
  if (helper.size() == 1) argv.push_back("--use-vnet");
  argv.push_back(fd_arg);
  argv.push_back(br_arg);
  auto child = process::spawn(argv, {theirs.get()});
  if (!child) return Error{child.error().errnum, "bridge helper failed: " + child.error().message};
  theirs.reset();  // so that a helper that dies unheard gives us EOF
  auto fd = receive_fd(ours.get(), timeout);
  auto status = child->wait(timeout);
  if (!status) return Error{status.error().errnum, "bridge helper failed: " + status.error().message};
  if (!fd) return Error{fd.error().errnum, "bridge helper failed: " + fd.error().message};
  return fd;
}

}  // namespace vnet::bridge
