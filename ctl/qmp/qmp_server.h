// QmpServer - the QMP UNIX socket: accepts clients, reads their bytes and
// SCM_RIGHTS fds, hands whole requests to each client's Session, writes
// replies (with fds) and broadcasts events to every negotiated client.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "ctl/qmp/commit_gate.h"
#include "ctl/loop/event_loop.h"
#include "ctl/qmp/event_sink.h"
#include "ctl/qmp/json_framer.h"
#include "ctl/loop/loop_timer.h"
#include "ctl/qmp/session.h"
#include "ctl/qmp/socket_access.h"

namespace vnet::qmp {

class QmpServer : public EventSink {
 public:
  // Bytes a client may leave unread before it is dropped: a client that
  // stops reading must not make the daemon buffer events without bound.
  static constexpr size_t kMaxPendingOutput = 16 << 20;
  // And all clients together.
  static constexpr size_t kMaxTotalPendingOutput = 256 << 20;
  // A client's unread replies above which we stop answering (and reading)
  // it until it catches up: back-pressure for clients that pipeline.
  static constexpr size_t kAnswerPauseBytes = 1 << 20;
  // Clients at once; past it (or when the fd table is full) accepting
  // pauses, so a flood of connections cannot take the daemon's fds.
  static constexpr size_t kMaxClients = 4096;
  static constexpr unsigned kAcceptRetryMs = 100;

  QmpServer(EventLoop& loop, qapi::CommandHandlers& handlers) : loop_(loop), handlers_(handlers) {}
  ~QmpServer() override;

  // Serves on an already listening socket (ours, or systemd's).
  Result<void> serve(UniqueFd listener);

  void emit(std::string_view name, nlohmann::ordered_json data) override;

  size_t client_count() const { return clients_.size(); }
  // Replies (and events) wait while the gate has uncommitted changes.
  void set_commit_gate(CommitGate* gate) { gate_ = gate; }
  // Who may run what (default: root only). Outlives the server.
  void set_access_policy(const access::AccessPolicy& policy) { policy_ = &policy; }

 private:
  struct Outgoing {
    std::string bytes;
    std::vector<UniqueFd> fds;  // sent with the first byte
    size_t sent = 0;
  };
  struct Client {
    UniqueFd fd;
    JsonFramer framer;
    std::unique_ptr<Session> session;
    std::deque<Outgoing> output;
    std::deque<FramedText> inbox;  // requests read but not yet answered
    std::shared_ptr<DeferredReply> waiting;  // a command answering later: the inbox waits
    size_t pending_bytes = 0;
    uint32_t interest = EPOLLIN;   // what epoll watches for now
    bool read_closed = false;      // the client shut down its sending side
    bool flush_scheduled = false;  // a deferred flush is pending
    bool closing = false;
  };
  using ClientIt = std::list<Client>::iterator;

  void accept_clients();
  // Stops watching the listener for a while (fd table full, too many clients).
  void pause_accepting(const std::string& why);
  void resume_accepting();
  void on_client_event(ClientIt client, uint32_t events);
  bool read_from(Client& client);
  void answer_inbox(ClientIt client);
  void deliver_deferred(ClientIt client, std::string text);
  void drop_if_done(ClientIt client);
  void queue(Client& client, std::string bytes, std::vector<UniqueFd> fds);
  void queue_text(Client& client, std::string_view text);
  bool flush(Client& client);
  void update_interest(Client& client);
  void drop(ClientIt client);
  void schedule_flush(ClientIt client);

  EventLoop& loop_;
  qapi::CommandHandlers& handlers_;
  UniqueFd listener_;
  std::list<Client> clients_;
  CommitGate* gate_ = nullptr;
  const access::AccessPolicy* policy_ = &access::AccessPolicy::root_only();
  std::unique_ptr<LoopTimer> accept_retry_;
  bool accepting_ = true;
  bool flush_after_commit_ = false;  // a flush of every client is waiting on the gate
};


}  // namespace vnet::qmp
