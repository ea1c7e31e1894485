#include "ctl/qmp/session.h"

#include "ctl/qapi/qemu_dict_order.h"
#include "ctl/qmp/qemu_json_reader.h"
#include "ctl/qmp/qemu_json_writer.h"
#include "ctl/qmp/qemu_texts.h"

namespace vnet::qmp {

using json = nlohmann::ordered_json;

json error_reply(const QmpError& error) {
  json body = json::object();
  body["class"] = std::string(to_string(error.cls));
  body["desc"] = error.desc;
  json reply = json::object();
  reply["error"] = std::move(body);
  return reply;
}

namespace {

std::string reply_text(json answer, const std::optional<json>& id) {
  if (id) answer["id"] = *id;
  return to_qemu_json(answer) + "\n";
}

}  // namespace

void DeferredReply::resolve(const QmpResult<json>& result) {
  if (resolved_) return;
  resolved_ = true;
  std::string text = reply_text(result ? json{{"return", result.value()}} : error_reply(result.error()), id_);
  if (deliver_) {
    auto deliver = std::move(deliver_);
    deliver_ = nullptr;
    deliver(std::move(text));
  } else {
    early_ = std::move(text);
  }
}

std::optional<std::string> DeferredReply::attach(std::function<void(std::string)> deliver) {
  if (early_) return std::exchange(early_, std::nullopt);
  if (!resolved_) deliver_ = std::move(deliver);
  return std::nullopt;
}

json Session::greeting() {
  json version = json::object();
  // Inserted in schema order (VersionTriple) so QDict order matches QEMU's.
  version["qemu"] = {{"major", kVersionMajor}, {"minor", kVersionMinor}, {"micro", kVersionMicro}};
  version["package"] = kVnetdPackage;
  json qmp = json::object();
  qmp["version"] = std::move(version);
  qmp["capabilities"] = json::array({"oob"});
  return json{{"QMP", std::move(qmp)}};
}

std::optional<UniqueFd> Session::take_received_fd() {
  if (received_fds_.empty()) return std::nullopt;
  UniqueFd fd = std::move(received_fds_.front());
  received_fds_.clear();
  return fd;
}

std::optional<UniqueFd> Session::take_named_fd(const std::string& name) {
  auto it = named_fds_.find(name);
  if (it == named_fds_.end()) return std::nullopt;
  UniqueFd fd = std::move(it->second);
  named_fds_.erase(it);
  return fd;
}

Reply Session::handle(const FramedText& framed) {
  Reply reply;
  json answer;
  if (!framed.error.empty()) {
    answer = error_reply(generic_error(framed.error));
  } else {
    std::string parse_error;
    std::optional<json> parsed = parse_qemu_json(framed.text, parse_error);
    if (!parsed) {
      answer = error_reply(generic_error(parse_error));
    } else {
      json& request = *parsed;
      // As handle_qmp_command(): "id" is taken out before dispatch and put
      // back on whatever the answer is.
      std::optional<json> id;
      if (request.is_object() && request.contains("id")) {
        id = request["id"];
        request.erase("id");
      }
      std::shared_ptr<DeferredReply> deferred;
      answer = dispatch(request, reply.fds, deferred);
      if (deferred) {
        deferred->set_id(std::move(id));
        reply.deferred = std::move(deferred);
        return reply;
      }
      if (id) answer["id"] = *id;
    }
  }
  reply.text = to_qemu_json(answer);
  reply.text += '\n';
  return reply;
}

// qmp_dispatch_check_obj() and qmp_dispatch(), in QEMU's order of checks.
json Session::dispatch(const json& request, std::vector<UniqueFd>& reply_fds,
                       std::shared_ptr<DeferredReply>& deferred) {
  if (!request.is_object()) return error_reply(generic_error(texts::kInputNotObject));

  std::vector<std::string> keys;
  for (const auto& item : request.items()) keys.push_back(item.key());
  std::string exec_key;
  for (const auto& key : qapi::qdict_order(keys)) {
    const json& value = request[key];
    if (key == "execute" || (key == "exec-oob" && oob_enabled_)) {
      if (!value.is_string()) return error_reply(generic_error(texts::member_must_be_string(key)));
      if (!exec_key.empty()) return error_reply(generic_error(texts::member_clashes(key, exec_key)));
      exec_key = key;
    } else if (key == "arguments") {
      if (!value.is_object()) return error_reply(generic_error(texts::kArgumentsNotObject));
    } else {
      return error_reply(generic_error(texts::member_unexpected(key)));
    }
  }
  if (exec_key.empty()) return error_reply(generic_error(texts::kLacksExecute));

  const std::string name = request[exec_key].get<std::string>();
  static const json no_arguments = json::object();
  const json& args = request.contains("arguments") ? request["arguments"] : no_arguments;
  // A peer no access rule is for hears why at once, before negotiation.
  if (!policy_.admits(peer_)) return error_reply(generic_error(*policy_.refusal(peer_, name, args)));
  // Before negotiation only qmp_capabilities exists, and QEMU rewords every
  // CommandNotFound to point the client at it.
  const qapi::CommandDescriptor* command = qapi::find_command(name);
  if (!negotiated_ && name != "qmp_capabilities") {
    return error_reply({ErrorClass::CommandNotFound, texts::kExpectingNegotiation});
  }
  if (!command) return error_reply({ErrorClass::CommandNotFound, texts::command_not_found(name)});
  if (exec_key == "exec-oob") return error_reply(generic_error(texts::command_no_oob(name)));

  // The access layer: the command exists and is well-formed as a request;
  // nothing of it has run yet (docs/access.md).
  if (auto refused = policy_.refusal(peer_, name, args)) return error_reply(generic_error(*refused));
  qapi::CommandContext ctx{*this, {}, nullptr};
  QmpResult<json> result = command->marshal(handlers_, ctx, args);
  if (!result) return error_reply(result.error());
  if (ctx.deferred) {
    deferred = std::move(ctx.deferred);
    return json();
  }
  reply_fds = std::move(ctx.reply_fds);
  return json{{"return", std::move(result.value())}};
}

}  // namespace vnet::qmp
