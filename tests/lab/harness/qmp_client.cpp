#include "tests/lab/harness/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "kernel_ifaces/scm_rights.h"

namespace vnet::lab {

namespace {

constexpr int kReplyTimeoutMs = 30000;  // generous: the lab runs under TCG

}  // namespace

std::string QmpReply::error_desc() const {
  if (ok()) return "";
  return message.value(nlohmann::json::json_pointer("/error/desc"), std::string("(no desc) ") + message.dump());
}

Result<QmpClient> QmpClient::connect(const std::string& socket_path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return Error::plain("socket path too long: " + socket_path);
  std::strcpy(addr.sun_path, socket_path.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return errno_error("connecting to " + socket_path);
  }
  QmpClient client(std::move(fd));
  std::vector<UniqueFd> ignored;
  auto greeting = client.read_message(ignored);
  if (!greeting) return greeting.take_error();
  if (!greeting->contains("QMP")) return Error::plain("no QMP greeting: " + greeting->dump());
  client.greeting_ = std::move(*greeting);
  auto caps = client.execute("qmp_capabilities");
  if (!caps) return caps.take_error();
  if (!caps->ok()) return Error::plain("qmp_capabilities: " + caps->error_desc());
  return client;
}

Result<QmpReply> QmpClient::execute(const std::string& command, const nlohmann::json& args,
                                    const std::vector<int>& fds) {
  int id = next_id_++;
  nlohmann::json request = {{"execute", command}, {"id", id}};
  if (!args.empty()) request["arguments"] = args;
  std::string text = request.dump() + "\n";
  for (size_t sent = 0; sent < text.size();) {
    // The fds ride on the request's first byte.
    auto n = scm::send(fd_.get(), std::string_view(text).substr(sent), sent == 0 ? fds : std::vector<int>{});
    if (!n) return Error{n.error().errnum, "sending " + command + ": " + n.error().message};
    sent += *n;
  }
  QmpReply reply;
  for (;;) {
    auto message = read_message(reply.fds);
    if (!message) return message.take_error();
    if (message->contains("event")) continue;
    if (message->value("id", -1) != id) return Error::plain("reply to " + command + " has another id: " + message->dump());
    reply.message = std::move(*message);
    return reply;
  }
}

Result<nlohmann::json> QmpClient::read_message(std::vector<UniqueFd>& fds) {
  for (;;) {
    if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      if (parsed.is_discarded()) return Error::plain("not JSON from the QMP server: " + line);
      return parsed;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    int ready = poll(&pfd, 1, kReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno_error("poll on the QMP socket");
    if (ready == 0) return Error::plain("no reply from the QMP server within 30 s");

    char data[65536];
    auto got = scm::receive(fd_.get(), data, fds);
    if (!got) return Error{got.error().errnum, "recvmsg on the QMP socket: " + got.error().message};
    if (got->fds_truncated) return Error::plain("QMP reply carried more fds than the client takes");
    size_t n = got->bytes;
    if (n == 0) return Error::plain("the QMP server closed the connection");
    buffer_.append(data, n);
  }
}

}  // namespace vnet::lab
