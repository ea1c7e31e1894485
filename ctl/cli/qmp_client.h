// QmpClient - a QMP client for vnetctl and tests: greeting, negotiation,
// commands with fds attached (SCM_RIGHTS) and fds received with replies,
// events kept aside while a reply is awaited.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/qmp/json_framer.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::cli {

struct QmpReply {
  nlohmann::ordered_json message;  // {"return": ...} or {"error": {...}}
  std::vector<UniqueFd> fds;       // what came with it (netdev-get-fds)
  bool ok() const { return message.contains("return"); }
  std::string error_desc() const;
};

class QmpClient {
 public:
  // Connects, reads the greeting and negotiates capabilities.
  static Result<QmpClient> connect(const std::string& socket_path);

  Result<QmpReply> execute(const std::string& command, const nlohmann::ordered_json& arguments = nullptr,
                           const std::vector<int>& fds = {});
  // Sends text as it is and returns the next reply.
  Result<QmpReply> raw(const std::string& text);
  // The next event, waiting for one if none is queued.
  Result<nlohmann::ordered_json> next_event();

 private:
  explicit QmpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<void> send(const std::string& text, const std::vector<int>& fds);
  Result<nlohmann::ordered_json> next_message(std::vector<UniqueFd>* fds);
  Result<QmpReply> next_reply();

  UniqueFd fd_;
  qmp::JsonFramer framer_;
  std::deque<std::string> texts_;
  std::vector<UniqueFd> received_fds_;
  std::deque<nlohmann::ordered_json> events_;
};

}  // namespace vnet::cli
