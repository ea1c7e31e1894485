// SocketAccess - who may connect to the QMP socket file: its mode and group
// (--socket-mode, --socket-group). What a connected client may do is the
// access layer's (ctl/access/).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unix_listener.h"

namespace vnet::qmp {

using SocketAccess = unix_socket::FileAccess;

// From the options' text: mode in octal ("0660"), group a name or a number
// ("" keeps vnetd's gid). Errors name the option.
Result<SocketAccess> parse_socket_access(const std::string& mode, const std::string& group);

}  // namespace vnet::qmp
