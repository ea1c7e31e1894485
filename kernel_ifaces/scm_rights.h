// scm_rights - bytes with file descriptors attached (SCM_RIGHTS) over a UNIX
// stream socket: the one place that packs and unpacks the control messages.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::scm {

// The most fds taken from one message (more are closed by the kernel and
// reported as truncated).
inline constexpr size_t kMaxFdsPerMessage = 64;

// One sendmsg(): the fds ride on the first byte. Returns the bytes sent
// (maybe fewer than given, as sendmsg); EAGAIN is an Error with that errno.
Result<size_t> send(int sock, std::string_view bytes, std::span<const int> fds = {}, int flags = 0);

struct Received {
  size_t bytes = 0;             // 0: the peer closed its side
  bool fds_truncated = false;   // it sent more fds than we take
};

// One recvmsg() into buffer; fds that came with the bytes are appended
// (close-on-exec) to fds.
Result<Received> receive(int sock, std::span<char> buffer, std::vector<UniqueFd>& fds, int flags = 0);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;  // the peer's effective gid when it connected
};
// SO_PEERCRED: who was at the other end of a connected UNIX socket when it
// connected (or called listen/socketpair); the kernel's record, not the peer's word.
Result<PeerCredentials> peer_credentials(int sock);

}  // namespace vnet::scm
