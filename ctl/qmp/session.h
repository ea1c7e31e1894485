// Session - one QMP client's monitor, as QEMU's monitor/qmp.c and
// qapi/qmp-dispatch.c: capability negotiation, the request envelope, "id"
// echo, named fds (getfd/closefd) and dispatch to the command handlers.
// It sees no socket: the server feeds it texts and received fds.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/access/access_policy.h"
#include "ctl/qmp/json_framer.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_commands.h"

namespace vnet::qmp {

// The answer to a command that completes later, because it waits on
// something outside the daemon (a VMM's replies). The client gets no other
// answer until it is resolved: QMP answers one client's commands in order.
// Other clients are served meanwhile.
class DeferredReply {
 public:
  // The first call wins; later ones (and calls after the client left) do
  // nothing.
  void resolve(const QmpResult<nlohmann::ordered_json>& result);
  bool resolved() const { return resolved_; }

  // For the session and the server: the request's "id", and where the text
  // goes. attach() returns the text at once if it was resolved before.
  void set_id(std::optional<nlohmann::ordered_json> id) { id_ = std::move(id); }
  std::optional<std::string> attach(std::function<void(std::string)> deliver);
  void detach() { deliver_ = nullptr; }

 private:
  std::optional<nlohmann::ordered_json> id_;
  std::function<void(std::string)> deliver_;
  std::optional<std::string> early_;
  bool resolved_ = false;
};

struct Reply {
  std::string text;            // one JSON text and a newline
  std::vector<UniqueFd> fds;   // sent with the text as SCM_RIGHTS
  std::shared_ptr<DeferredReply> deferred;  // set instead of text: answered later
};

class Session {
 public:
  // peer: who connected (SO_PEERCRED); every command passes policy's check
  // first. A session made inside the daemon's process is root's.
  explicit Session(qapi::CommandHandlers& handlers, access::Peer peer = access::Peer::in_process(),
                   const access::AccessPolicy& policy = access::AccessPolicy::root_only())
      : handlers_(handlers), peer_(peer), policy_(policy) {}

  const access::Peer& peer() const { return peer_; }

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
  // getfd's fds one client may hold (a VMM needs a few per netdev it adds).
  static constexpr size_t kMaxNamedFds = 1024;
  void set_named_fd(const std::string& name, UniqueFd fd) { named_fds_[name] = std::move(fd); }
  bool has_named_fd(const std::string& name) const { return named_fds_.count(name) > 0; }
  size_t named_fd_count() const { return named_fds_.size(); }
  bool close_named_fd(const std::string& name) { return named_fds_.erase(name) > 0; }
  // As QEMU's monitor_get_fd(): a named fd is consumed by the command that uses it.
  std::optional<UniqueFd> take_named_fd(const std::string& name);

 private:
  nlohmann::ordered_json dispatch(const nlohmann::ordered_json& request, std::vector<UniqueFd>& reply_fds,
                                  std::shared_ptr<DeferredReply>& deferred);

  qapi::CommandHandlers& handlers_;
  access::Peer peer_;
  const access::AccessPolicy& policy_;
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
  std::shared_ptr<qmp::DeferredReply> deferred;

  // A handler that answers later calls this, returns success now (the value
  // is ignored) and resolves the DeferredReply when it is done.
  std::shared_ptr<qmp::DeferredReply> defer() {
    deferred = std::make_shared<qmp::DeferredReply>();
    return deferred;
  }
};

}  // namespace vnet::qapi
