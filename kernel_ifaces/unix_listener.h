// unix_listener - a listening UNIX stream socket at a path, made safely: a
// stale socket file (nobody answers on it) is replaced, a live one or any
// other kind of file is not; the file's group and mode are set before anyone
// can connect. The QMP socket and vhost-user back ends listen this way.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::unix_socket {

// Connecting needs write permission on the file.
struct FileAccess {
  mode_t mode = 0660;
  std::optional<gid_t> group;  // nullopt: the process's own gid
};

// Permission bits only, and never o+w: anyone could connect.
Result<void> check_mode(mode_t mode);

// A listening, non-blocking socket at path with access's mode and group. The
// socket appears at path only once both are set: never with a wider mode or
// another group. EADDRINUSE: a process answers on path already.
Result<UniqueFd> listen_at(const std::string& path, const FileAccess& access = {});

}  // namespace vnet::unix_socket
