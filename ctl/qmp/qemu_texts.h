// QEMU 7.2's error texts that vnetd repeats word for word, in one place.
// (Texts produced while decoding arguments live in ctl/qapi/input_visitor.cpp,
// which mirrors qobject-input-visitor.c.)
#pragma once

#include <string>

#include "vnet/version.h"

namespace vnet::qmp {

inline const std::string kVnetdPackage = std::string("vnetd ") + kVersion;

namespace texts {

// monitor/qmp.c, qapi/qmp-dispatch.c
inline constexpr const char* kInputNotObject = "QMP input must be a JSON object";
inline constexpr const char* kArgumentsNotObject = "QMP input member 'arguments' must be an object";
inline constexpr const char* kLacksExecute = "QMP input lacks member 'execute'";
inline constexpr const char* kExpectingNegotiation = "Expecting capabilities negotiation with 'qmp_capabilities'";
inline constexpr const char* kNegotiationComplete = "Capabilities negotiation is already complete, command ignored";

inline std::string member_must_be_string(const std::string& key) {
  return "QMP input member '" + key + "' must be a string";
}
inline std::string member_clashes(const std::string& key, const std::string& other) {
  return "QMP input member '" + key + "' clashes with '" + other + "'";
}
inline std::string member_unexpected(const std::string& key) { return "QMP input member '" + key + "' is unexpected"; }
inline std::string command_not_found(const std::string& name) { return "The command " + name + " has not been found"; }
inline std::string command_no_oob(const std::string& name) { return "The command " + name + " does not support OOB"; }

// monitor/misc.c (getfd, closefd)
inline constexpr const char* kNoFdSupplied = "No file descriptor supplied via SCM_RIGHTS";
inline std::string fd_not_found(const std::string& name) { return "File descriptor named '" + name + "' not found"; }
// (monitor_fd_param()'s "File descriptor named 'X' has not been found" is the
// tap backend's to say: backends/tap/tap_backend.cpp.)

// net/net.c
inline std::string device_not_found(const std::string& id) { return "Device '" + id + "' not found"; }
inline std::string duplicate_id(const std::string& id) { return "Duplicate ID '" + id + "'"; }
inline std::string backend_not_compiled(const std::string& type) {
  return "network backend '" + type + "' is not compiled into this binary";
}
inline std::string netdev_not_found(const std::string& id) { return "netdev '" + id + "' not found"; }
inline std::string not_a_nic(const std::string& name) { return "net client(" + name + ") isn't a NIC"; }
inline std::string invalid_client_name(const std::string& name) { return "invalid net client name: " + name; }

// QERR_INVALID_PARAMETER_VALUE
inline std::string parameter_expects(const std::string& name, const std::string& what) {
  return "Parameter '" + name + "' expects " + what;
}

}  // namespace texts
}  // namespace vnet::qmp
