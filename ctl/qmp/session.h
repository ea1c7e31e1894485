// Session - one QMP client's monitor, as QEMU's monitor/qmp.c and
// qapi/qmp-dispatch.c: capability negotiation, the request envelope, "id"
// echo, named fds (getfd/closefd) and dispatch to the command handlers.
// It sees no socket: the server feeds it texts and received fds.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/qmp/json_framer.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_commands.h"

namespace vnet::qmp {

struct Reply {
  std::string text;            // one JSON text and a newline
  std::vector<UniqueFd> fds;   // sent with the text as SCM_RIGHTS
};

class Session {
 public:
  explicit Session(qapi::CommandHandlers& handlers) : handlers_(handlers) {}

  static nlohmann::ordered_json greeting();

  // Answers one framed request.
  Reply handle(const FramedText& framed);

  // QEMU keeps only the fds of the latest message that carried any; older
  // unclaimed ones are closed.
  void set_received_fds(std::vector<UniqueFd> fds) { received_fds_ = std::move(fds); }

  bool negotiated() const { return negotiated_; }
  bool oob_enabled() const { return oob_enabled_; }
  void complete_negotiation(bool oob) {
    negotiated_ = true;
    oob_enabled_ = oob;
  }

  // getfd: the first fd of the latest batch (QEMU closes the rest).
  std::optional<UniqueFd> take_received_fd();
  void set_named_fd(const std::string& name, UniqueFd fd) { named_fds_[name] = std::move(fd); }
  bool close_named_fd(const std::string& name) { return named_fds_.erase(name) > 0; }
  // As QEMU's monitor_get_fd(): a named fd is consumed by the command that uses it.
  std::optional<UniqueFd> take_named_fd(const std::string& name);

 private:
  nlohmann::ordered_json dispatch(const nlohmann::ordered_json& request, std::vector<UniqueFd>& reply_fds);

  qapi::CommandHandlers& handlers_;
  bool negotiated_ = false;
  bool oob_enabled_ = false;
  std::vector<UniqueFd> received_fds_;
  std::map<std::string, UniqueFd> named_fds_;
};

// Builds {"error": {"class": ..., "desc": ...}}.
nlohmann::ordered_json error_reply(const QmpError& error);

}  // namespace vnet::qmp

namespace vnet::qapi {

// What a command handler may use of the session that sent the command.
struct CommandContext {
  qmp::Session& session;
  std::vector<UniqueFd> reply_fds;  // attached to the reply, in order
};

}  // namespace vnet::qapi
