// QmpClient - a minimal QMP client for the lab tests (there is no Python in
// the guest): connects, negotiates capabilities, runs commands and collects
// the file descriptors a reply carries as SCM_RIGHTS.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::lab {

struct QmpReply {
  nlohmann::json message;     // {"return": ...} or {"error": {...}}
  std::vector<UniqueFd> fds;  // attached to the reply, in order

  bool ok() const { return message.contains("return"); }
  const nlohmann::json& value() const { return message.at("return"); }
  // The error's desc, or "" for a success.
  std::string error_desc() const;
};

class QmpClient {
 public:
  // Connects to a QMP socket, reads the greeting and sends qmp_capabilities.
  static Result<QmpClient> connect(const std::string& socket_path);

  // Sends {"execute": command, "arguments": args}, with fds attached as
  // SCM_RIGHTS (as for getfd), and waits for its reply, skipping events.
  Result<QmpReply> execute(const std::string& command, const nlohmann::json& args = nlohmann::json::object(),
                           const std::vector<int>& fds = {});

  const nlohmann::json& greeting() const { return greeting_; }

 private:
  explicit QmpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  // One JSON message (a line); fds received on the way are appended to fds.
  Result<nlohmann::json> read_message(std::vector<UniqueFd>& fds);

  UniqueFd fd_;
  std::string buffer_;
  nlohmann::json greeting_;
  int next_id_ = 1;
};

}  // namespace vnet::lab
