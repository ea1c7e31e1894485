#include "ctl/qmp/qmp_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ctl/qmp/qemu_json_writer.h"
#include "kernel_ifaces/fd_flags.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/scm_rights.h"

namespace vnet::qmp {

QmpServer::~QmpServer() {
  accept_retry_.reset();
  for (auto& client : clients_) loop_.remove(client.fd.get());
  if (listener_) loop_.remove(listener_.get());
}

Result<void> QmpServer::serve(UniqueFd listener) {
  if (auto nonblocking = set_nonblocking(listener.get(), "the QMP listener"); !nonblocking) return nonblocking;
  listener_ = std::move(listener);
  // Made now: when accepting fails for want of fds, a timerfd could not be had.
  auto timer = LoopTimer::create(loop_, [this] { resume_accepting(); });
  if (!timer) return timer.take_error();
  accept_retry_ = std::move(*timer);
  return loop_.add(listener_.get(), EPOLLIN, [this](uint32_t) { accept_clients(); });
}

void QmpServer::pause_accepting(const std::string& why) {
  if (!accepting_ || !accept_retry_) return;
  // Level-triggered: a listener left in epoll while nothing can be accepted
  // would wake the loop at once, for ever.
  if (!loop_.modify(listener_.get(), 0)) return;
  accepting_ = false;
  accept_retry_->arm_ms(kAcceptRetryMs);
  log::warning("not accepting QMP clients for now: " + why);
}

void QmpServer::resume_accepting() {
  if (accepting_) return;
  if (clients_.size() >= kMaxClients) return accept_retry_->arm_ms(kAcceptRetryMs);
  if (loop_.modify(listener_.get(), EPOLLIN)) accepting_ = true;
  accept_clients();
}

void QmpServer::accept_clients() {
  for (;;) {
    if (clients_.size() >= kMaxClients) {
      return pause_accepting(std::to_string(kMaxClients) + " clients are connected, the most vnetd serves");
    }
    UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        return pause_accepting(errno_error("accept on the QMP socket").message);
      }
      if (errno != EAGAIN && errno != EINTR) {
        log::error(errno_error("accept on the QMP socket").message);
      }
      return;
    }
    // Who connected decides what it may do (the socket file's mode only who
    // may connect): a client whose credentials cannot be read is not served.
    auto cred = scm::peer_credentials(fd.get());
    if (!cred) {
      log::warning("refusing a QMP client: " + cred.error().message);
      continue;
    }
    clients_.emplace_back();
    ClientIt client = std::prev(clients_.end());
    client->fd = std::move(fd);
    client->session =
        std::make_unique<Session>(handlers_, access::Peer{cred->uid, cred->gid, cred->pid}, *policy_);
    auto added = loop_.add(client->fd.get(), EPOLLIN, [this, client](uint32_t events) {
      on_client_event(client, events);
    });
    if (!added) {
      log::error(added.error().message);
      clients_.erase(client);
      continue;
    }
    queue(*client, to_qemu_json(Session::greeting()) + "\n", {});
    if (!flush(*client)) drop(client);
  }
}

void QmpServer::on_client_event(ClientIt client, uint32_t events) {
  if (client->closing) return;
  if ((events & EPOLLOUT) && !flush(*client)) return drop(client);
  // Read only when everything read before is answered: requests wait in the
  // socket while a client is not taking its replies.
  if (client->inbox.empty() && !client->read_closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    if (!read_from(*client)) return drop(client);
  }
  answer_inbox(client);
  if (client->closing) return;
  if (!flush(*client)) return drop(client);
  drop_if_done(client);
}

// A client that has said all it will say goes once it has its answers.
void QmpServer::drop_if_done(ClientIt client) {
  if (client->read_closed && client->inbox.empty() && !client->waiting && client->output.empty()) drop(client);
}

void QmpServer::answer_inbox(ClientIt client) {
  while (!client->waiting && !client->inbox.empty() && client->pending_bytes < kAnswerPauseBytes) {
    Reply reply = client->session->handle(client->inbox.front());
    client->inbox.pop_front();
    if (reply.deferred) {
      auto early = reply.deferred->attach([this, client](std::string text) { deliver_deferred(client, std::move(text)); });
      if (!early) {
        client->waiting = std::move(reply.deferred);
        break;
      }
      reply.text = std::move(*early);
    }
    queue(*client, std::move(reply.text), std::move(reply.fds));
    if (client->pending_bytes >= kAnswerPauseBytes && !flush(*client)) return drop(client);
  }
}

// A deferred command's answer: sent, and the client's next requests answered.
void QmpServer::deliver_deferred(ClientIt client, std::string text) {
  client->waiting.reset();
  if (client->closing) return;
  queue(*client, std::move(text), {});
  answer_inbox(client);
  if (client->closing) return;
  if (!flush(*client)) return drop(client);
  drop_if_done(client);
}

// Reads what is there; returns false when the client is gone.
bool QmpServer::read_from(Client& client) {
  for (;;) {
    char buffer[65536];
    std::vector<UniqueFd> fds;
    auto got = scm::receive(client.fd.get(), buffer, fds, MSG_DONTWAIT);
    if (!got) return got.error().errnum == EAGAIN;
    size_t n = got->bytes;
    if (!fds.empty()) client.session->set_received_fds(std::move(fds));
    if (n == 0) {
      client.read_closed = true;
      return true;
    }
    for (auto& framed : client.framer.feed(std::string_view(buffer, n))) {
      client.inbox.push_back(std::move(framed));
    }
    // The fds just read belong to these requests: answer them before reading on.
    if (!client.inbox.empty()) return true;
  }
}

void QmpServer::queue(Client& client, std::string bytes, std::vector<UniqueFd> fds) {
  if (fds.empty() && !client.output.empty()) return queue_text(client, bytes);
  client.pending_bytes += bytes.size();
  client.output.push_back(Outgoing{std::move(bytes), std::move(fds)});
}

// Text without fds joins what is queued, so that an event and the reply
// after it leave in one sendmsg (fds must come with their own reply). An
// event is queued for every client: copied once, into the queue.
void QmpServer::queue_text(Client& client, std::string_view text) {
  client.pending_bytes += text.size();
  if (!client.output.empty()) {
    client.output.back().bytes.append(text);
  } else {
    client.output.push_back(Outgoing{std::string(text), {}});
  }
}

// Writes what the socket takes; returns false when the client is gone.
bool QmpServer::flush(Client& client) {
  if (gate_ && gate_->uncommitted() && !client.output.empty()) {
    // Nothing leaves before what it may confirm is durable: every client
    // is flushed once the state is committed (this turn of the loop).
    if (!flush_after_commit_) {
      flush_after_commit_ = true;
      gate_->when_committed([this] {
        flush_after_commit_ = false;
        for (auto it = clients_.begin(); it != clients_.end(); ++it) {
          if (!it->closing && !it->output.empty() && !flush(*it)) drop(it);
        }
      });
    }
    return true;
  }
  while (!client.output.empty()) {
    Outgoing& out = client.output.front();
    std::vector<int> fds;
    if (out.sent == 0) {
      for (const auto& fd : out.fds) fds.push_back(fd.get());
    }
    auto sent = scm::send(client.fd.get(), std::string_view(out.bytes).substr(out.sent), fds, MSG_DONTWAIT);
    if (!sent) {
      if (sent.error().errnum == EAGAIN) break;
      return false;
    }
    size_t n = *sent;
    // Once any byte is sent, the kernel has passed the fds (our copies close).
    out.fds.clear();
    out.sent += n;
    client.pending_bytes -= n;
    if (out.sent == out.bytes.size()) client.output.pop_front();
  }
  update_interest(client);
  return true;
}

void QmpServer::update_interest(Client& client) {
  bool want_input = client.inbox.empty() && !client.read_closed;
  uint32_t events = (want_input ? uint32_t{EPOLLIN} : 0u) | (client.output.empty() ? 0u : uint32_t{EPOLLOUT});
  // Unanswered requests with room to answer them: come back at once.
  if (!client.inbox.empty() && !client.waiting && client.pending_bytes < kAnswerPauseBytes) events |= EPOLLOUT;
  // Called after every flush: skip the syscall when nothing changed.
  if (events == client.interest) return;
  if (loop_.modify(client.fd.get(), events)) client.interest = events;
}

void QmpServer::drop(ClientIt client) {
  if (client->closing) return;
  client->closing = true;
  // A command still under way finishes, but its answer has nowhere to go.
  if (client->waiting) client->waiting->detach();
  loop_.remove(client->fd.get());
  // Destroyed after the current callbacks: one of them may be this client's.
  loop_.defer([this, client] { clients_.erase(client); });
}

void QmpServer::emit(std::string_view name, nlohmann::ordered_json data) {
  timeval now{};
  gettimeofday(&now, nullptr);
  nlohmann::ordered_json event = nlohmann::ordered_json::object();
  event["timestamp"] = {{"seconds", static_cast<int64_t>(now.tv_sec)},
                        {"microseconds", static_cast<int64_t>(now.tv_usec)}};
  event["event"] = std::string(name);
  if (!data.is_null() && !(data.is_object() && data.empty())) event["data"] = std::move(data);
  std::string text = to_qemu_json(event) + "\n";
  size_t total = 0;
  ClientIt largest = clients_.end();
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    // QEMU sends events only to clients past capability negotiation.
    if (it->closing || !it->session->negotiated()) continue;
    queue_text(*it, text);
    if (it->pending_bytes > kMaxPendingOutput) {
      drop(it);
      continue;
    }
    schedule_flush(it);
    total += it->pending_bytes;
    if (largest == clients_.end() || it->pending_bytes > largest->pending_bytes) largest = it;
  }
  // Many clients that do not read add up: past the daemon's budget, the one
  // furthest behind goes.
  if (total > kMaxTotalPendingOutput && largest != clients_.end()) drop(largest);
}

// Events raised while a request is being answered go out with its reply;
// others at the end of this turn of the loop.
void QmpServer::schedule_flush(ClientIt client) {
  if (client->flush_scheduled) return;
  client->flush_scheduled = true;
  loop_.defer([this, client] {
    client->flush_scheduled = false;
    if (!client->closing && !flush(*client)) drop(client);
  });
}

}  // namespace vnet::qmp
