#include "ctl/vmm/vmm_monitor.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "kernel_ifaces/scm_rights.h"

namespace vnet::vmm {

using json = nlohmann::ordered_json;

std::string describe(const std::string& path) { return "the VMM at " + path; }

namespace {

// Long texts (a VMM that is not QMP may send anything) are cut for messages.
std::string excerpt(const std::string& text) {
  constexpr size_t kMax = 120;
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}

Error connect_error(int errnum, const std::string& path) {
  switch (errnum) {
    case ENOENT:
      return Error{errnum, "no socket at " + path +
                               " (start QEMU with -qmp unix:" + path + ",server=on,wait=off)"};
    case ECONNREFUSED:
      return Error{errnum, "nothing accepts connections on " + path + " (is the VMM still running?)"};
    case EAGAIN:
      return Error{errnum, describe(path) + " is not accepting connections (its backlog is full)"};
    default:
      return Error::from_errno(errnum, "connecting to the QMP socket " + path);
  }
}

}  // namespace

Result<std::unique_ptr<VmmMonitor>> VmmMonitor::connect(EventLoop& loop, const std::string& path,
                                                        Handlers handlers) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error{EINVAL, "'" + path + "' is not a UNIX socket path (empty, or longer than " +
                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes)"};
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket(AF_UNIX)");
  // A UNIX stream connect completes at once (or fails at once): nothing waits here.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return connect_error(errno, path);

  std::unique_ptr<VmmMonitor> monitor(new VmmMonitor(loop, path, std::move(fd), std::move(handlers)));
  VmmMonitor* self = monitor.get();
  auto timer = LoopTimer::create(loop, [self] { self->on_timeout(); });
  if (!timer) return timer.take_error();
  monitor->timer_ = std::move(*timer);
  if (auto added = loop.add(self->fd_.get(), EPOLLIN, [self](uint32_t events) { self->on_socket(events); });
      !added) {
    return added.take_error();
  }
  monitor->timer_->arm_ms(kGreetingTimeoutMs);
  return monitor;
}

VmmMonitor::~VmmMonitor() {
  if (fd_) loop_.remove(fd_.get());
}

void VmmMonitor::close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  timer_->disarm();
  loop_.remove(fd_.get());
  fd_.reset();
  queue_.clear();
  in_flight_.reset();
}

void VmmMonitor::execute(const std::string& command, json arguments, std::vector<UniqueFd> fds,
                         ReplyHandler handler) {
  if (state_ == State::closed) {
    VmmReply reply;
    reply.desc = describe(path_) + ": not connected";
    // Later, and not at all once this monitor (and so its owner) is gone.
    loop_.defer([alive = std::weak_ptr<bool>(alive_), handler = std::move(handler), reply] {
      if (!alive.expired()) handler(reply);
    });
    return;
  }
  queue_.push_back(Pending{command, std::move(arguments), std::move(fds), std::move(handler)});
  send_next();
}

void VmmMonitor::send_next() {
  if (in_flight_ || queue_.empty()) return;
  if (state_ != State::ready && queue_.front().command != "qmp_capabilities") return;
  in_flight_ = std::move(queue_.front());
  queue_.pop_front();
  json request = json::object();
  request["execute"] = in_flight_->command;
  if (!in_flight_->arguments.is_null()) request["arguments"] = in_flight_->arguments;
  request["id"] = next_id_++;
  output_ += request.dump() + "\n";
  output_fds_ = std::move(in_flight_->fds);
  timer_->arm_ms(kReplyTimeoutMs);
  if (!flush()) fail(describe(path_) + " closed its QMP socket");
}

// Writes what the socket takes; false when the VMM is gone.
bool VmmMonitor::flush() {
  while (!output_.empty()) {
    std::vector<int> fds;
    for (const auto& fd : output_fds_) fds.push_back(fd.get());
    auto sent = scm::send(fd_.get(), output_, fds, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (!sent) {
      if (sent.error().errnum != EAGAIN) return false;
      break;
    }
    output_fds_.clear();  // the kernel passed them with the first byte
    output_.erase(0, *sent);
  }
  bool want_output = !output_.empty();
  if (want_output != watching_output_) {
    if (loop_.modify(fd_.get(), EPOLLIN | (want_output ? uint32_t{EPOLLOUT} : 0u))) watching_output_ = want_output;
  }
  return true;
}

void VmmMonitor::on_socket(uint32_t events) {
  if (state_ == State::closed) return;
  if ((events & EPOLLOUT) && !flush()) return fail(describe(path_) + " closed its QMP socket");
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  std::weak_ptr<bool> alive = alive_;
  for (;;) {
    char buffer[65536];
    std::vector<UniqueFd> ignored;  // a VMM has no fds to give us
    auto got = scm::receive(fd_.get(), buffer, ignored, MSG_DONTWAIT);
    if (!got) {
      if (got.error().errnum == EAGAIN) return;
      return fail(describe(path_) + " closed its QMP socket (" + got.error().message + ")");
    }
    if (got->bytes == 0) return fail(describe(path_) + " closed its QMP socket");
    for (auto& framed : framer_.feed(std::string_view(buffer, got->bytes))) {
      if (!framed.error.empty()) return fail(describe(path_) + " is not a QMP monitor: " + framed.error);
      json message = json::parse(framed.text, nullptr, false);
      if (message.is_discarded() || !message.is_object()) {
        return fail(describe(path_) + " is not a QMP monitor: it sent '" + excerpt(framed.text) + "'");
      }
      on_message(message);
      if (alive.expired() || state_ == State::closed) return;
    }
  }
}

void VmmMonitor::on_message(const json& message) {
  if (state_ == State::greeting) {
    if (!message.contains("QMP") || !message["QMP"].is_object()) {
      return fail(describe(path_) + " is not a QMP monitor: its first message was '" + excerpt(message.dump()) +
                  "'");
    }
    state_ = State::negotiating;
    timer_->disarm();
    queue_.push_front(Pending{"qmp_capabilities", nullptr, {}, [this](const VmmReply& reply) {
                                if (!reply.ok()) {
                                  return fail(describe(path_) + " refused qmp_capabilities: " + reply.desc);
                                }
                                state_ = State::ready;
                                if (handlers_.ready) handlers_.ready();
                              }});
    return send_next();
  }
  if (message.contains("event")) {
    if (handlers_.event) handlers_.event(message);
    return;
  }
  bool is_return = message.contains("return");
  if (!is_return && !message.contains("error")) return;  // nothing we asked for
  // Replies to anything but the command in flight (a late one after a
  // deadline cannot happen: the connection is closed then) are ignored.
  if (!in_flight_ || !message.contains("id") || message["id"] != json(next_id_ - 1)) return;
  VmmReply reply;
  if (is_return) {
    reply.kind = VmmReply::Kind::ok;
    reply.value = message["return"];
  } else {
    reply.kind = VmmReply::Kind::refused;
    const json& error = message["error"];
    reply.error_class = error.is_object() && error.value("class", json()).is_string() ? error["class"].get<std::string>()
                                                                                     : "GenericError";
    reply.desc = error.is_object() && error.value("desc", json()).is_string() ? error["desc"].get<std::string>()
                                                                             : error.dump();
  }
  timer_->disarm();
  Pending done = std::move(*in_flight_);
  in_flight_.reset();
  std::weak_ptr<bool> alive = alive_;
  done.handler(reply);
  if (alive.expired()) return;
  send_next();
}

void VmmMonitor::on_timeout() {
  if (state_ == State::greeting) {
    return fail(describe(path_) + " sent no QMP greeting within " + std::to_string(kGreetingTimeoutMs / 1000) +
                " s (QEMU serves one client per -qmp socket: is another one connected?)");
  }
  if (in_flight_) {
    fail(describe(path_) + " did not answer " + in_flight_->command + " within " +
         std::to_string(kReplyTimeoutMs / 1000) + " s");
  }
}

void VmmMonitor::fail(const std::string& why) {
  if (state_ == State::closed) return;
  std::vector<ReplyHandler> waiting;
  if (in_flight_) waiting.push_back(std::move(in_flight_->handler));
  for (auto& pending : queue_) waiting.push_back(std::move(pending.handler));
  close();
  VmmReply reply;
  reply.desc = why;
  std::weak_ptr<bool> alive = alive_;
  for (auto& handler : waiting) {
    handler(reply);
    if (alive.expired()) return;
  }
  if (handlers_.closed) handlers_.closed(why);
}

}  // namespace vnet::vmm
