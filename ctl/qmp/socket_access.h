// SocketAccess - who may connect to the QMP socket file: its mode and group
// (--socket-mode, --socket-group). What a connected client may do is the
// access layer's (ctl/access/).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::qmp {

// Connecting needs write permission on the file.
struct SocketAccess {
  mode_t mode = 0660;
  std::optional<gid_t> group;  // nullopt: vnetd's own gid
};

// Permission bits only, and never o+w: anyone could connect.
Result<void> check_socket_mode(mode_t mode);

// From the options' text: mode in octal ("0660"), group a name or a number
// ("" keeps vnetd's gid). Errors name the option.
Result<SocketAccess> parse_socket_access(const std::string& mode, const std::string& group);

}  // namespace vnet::qmp
