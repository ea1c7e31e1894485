#include "tests/lab/harness/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace vnet::lab {

namespace {

constexpr int kReplyTimeoutMs = 30000;  // generous: the lab runs under TCG
constexpr size_t kMaxFdsPerMessage = 64;

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
  std::vector<char> control;
  for (size_t sent = 0; sent < text.size();) {
    iovec iov{text.data() + sent, text.size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (sent == 0 && !fds.empty()) {
      // The fds ride on the request's first byte.
      control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("sending " + command);
    }
    sent += static_cast<size_t>(n);
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
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("recvmsg on the QMP socket");
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) return Error::plain("QMP reply carried more fds than the client takes");
    if (n == 0) return Error::plain("the QMP server closed the connection");
    buffer_.append(data, static_cast<size_t>(n));
  }
}

}  // namespace vnet::lab
