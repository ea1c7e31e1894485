#include "ctl/cli/qmp_client.h"

#include <sys/socket.h>

#include "kernel_ifaces/scm_rights.h"
#include <sys/un.h>

#include <cstring>

namespace vnet::cli {

using json = nlohmann::ordered_json;

std::string QmpReply::error_desc() const {
  if (message.contains("error")) return message["error"].value("desc", std::string("error"));
  return "";
}

Result<QmpClient> QmpClient::connect(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) return Error{ENAMETOOLONG, "socket path " + socket_path};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return errno_error("connecting to " + socket_path + " (is vnetd running?)");
  }
  QmpClient client(std::move(fd));
  auto greeting = client.next_message(nullptr);
  if (!greeting) return greeting.take_error();
  if (!greeting->contains("QMP")) return Error{EPROTO, socket_path + " did not greet as a QMP server"};
  auto negotiated = client.execute("qmp_capabilities");
  if (!negotiated) return negotiated.take_error();
  if (!negotiated->ok()) return Error{EPROTO, "qmp_capabilities: " + negotiated->error_desc()};
  return client;
}

Result<void> QmpClient::send(const std::string& text, const std::vector<int>& fds) {
  for (size_t sent = 0; sent < text.size();) {
    // The fds go with the first byte only.
    auto n = scm::send(fd_.get(), std::string_view(text).substr(sent), sent == 0 ? fds : std::vector<int>{});
    if (!n) return Error{n.error().errnum, "sending to vnetd: " + n.error().message};
    sent += *n;
  }
  return {};
}

Result<json> QmpClient::next_message(std::vector<UniqueFd>* fds) {
  while (texts_.empty()) {
    char buffer[65536];
    auto got = scm::receive(fd_.get(), buffer, received_fds_);
    if (!got) return Error{got.error().errnum, "reading from vnetd: " + got.error().message};
    size_t n = got->bytes;
    if (n == 0) return Error{ECONNRESET, "vnetd closed the connection"};
    for (auto& framed : framer_.feed(std::string_view(buffer, n))) {
      if (!framed.error.empty()) return Error{EPROTO, "vnetd sent bad JSON: " + framed.error};
      texts_.push_back(std::move(framed.text));
    }
  }
  json message = json::parse(texts_.front(), nullptr, false);
  texts_.pop_front();
  if (message.is_discarded()) return Error{EPROTO, "vnetd sent bad JSON"};
  // The fds arrive with the first byte of the message that carries them.
  if (fds) *fds = std::move(received_fds_);
  received_fds_.clear();
  return message;
}

Result<QmpReply> QmpClient::next_reply() {
  for (;;) {
    QmpReply reply;
    auto message = next_message(&reply.fds);
    if (!message) return message.take_error();
    if (message->contains("event")) {
      events_.push_back(std::move(*message));
      continue;
    }
    reply.message = std::move(*message);
    return reply;
  }
}

Result<QmpReply> QmpClient::execute(const std::string& command, const json& arguments, const std::vector<int>& fds) {
  json request = {{"execute", command}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  if (auto sent = send(request.dump() + "\n", fds); !sent) return sent.take_error();
  return next_reply();
}

Result<QmpReply> QmpClient::raw(const std::string& text) {
  if (auto sent = send(text + "\n", {}); !sent) return sent.take_error();
  return next_reply();
}

Result<json> QmpClient::next_event() {
  while (events_.empty()) {
    auto message = next_message(nullptr);
    if (!message) return message.take_error();
    if (message->contains("event")) return std::move(*message);
  }
  json event = std::move(events_.front());
  events_.pop_front();
  return event;
}

}  // namespace vnet::cli
