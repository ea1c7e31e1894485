// CniError - the error result of the CNI spec (SPEC.md, "Error"): a numeric
// code, a short msg and longer details, written as JSON on stdout while the
// plugin exits non-zero. Every step of the plugin returns Expected<T>: a
// value, or the error the runtime will read.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

namespace vnet::cni {

// The spec's well-known codes (0-99 are reserved; SPEC.md, "Error"), and
// this plugin's own from 100 on.
enum ErrorCode : unsigned {
  kIncompatibleVersion = 1,  // cniVersion not one of supported_versions()
  kUnsupportedField = 2,     // a configuration key this plugin does not know
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,   // a CNI_* variable missing or malformed
  kIoFailure = 5,
  kDecodingFailure = 6,      // stdin, prevResult or a delegate's output is not what it must be
  kInvalidConfig = 7,        // a key with a value this plugin cannot use
  kTryAgainLater = 11,       // vnetd unreachable: it may be starting
  kNotAvailable = 50,        // STATUS: ADD cannot be served (vnetd down, IPAM missing)
  kLimitedConnectivity = 51,
  // This plugin's own.
  kVnetdRefused = 100,       // vnetd answered an error; its class and text are in details
  kAttachmentConflict = 101, // the netdev id is held by another attachment, or this one is elsewhere
  kCheckFailed = 102,        // CHECK: the attachment is not as prevResult says
  kDelegateFailed = 103,     // the IPAM plugin failed without a CNI error of its own
  kAddressConfig = 104,      // the addresses or routes could not be set in the namespace
  kInternal = 999,           // a bug of the plugin's own (libcni's ErrInternal)
};

struct CniError {
  unsigned code = 0;
  std::string msg;
  std::string details;
};

template <typename T>
using Expected = tl::expected<T, CniError>;

inline tl::unexpected<CniError> fail(unsigned code, std::string msg, std::string details = "") {
  return tl::unexpected(CniError{code, std::move(msg), std::move(details)});
}

// {"cniVersion", "code", "msg", "details"}; details left out when empty, as
// libcni's types.Error does.
nlohmann::ordered_json error_json(const CniError& error, const std::string& cni_version);

}  // namespace vnet::cni
