// VmmMonitor - vnetd as a QMP client of a VMM (QEMU), on the daemon's event
// loop: never blocking, so a slow or dead VMM stalls nothing but its own
// attachment. It connects, reads the greeting, negotiates, then runs
// commands one at a time (fds attached as SCM_RIGHTS, each with a deadline)
// and hands every event to its owner.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/loop/event_loop.h"
#include "ctl/qmp/json_framer.h"
#include "ctl/loop/loop_timer.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::vmm {

// What one command to the VMM came to.
struct VmmReply {
  enum class Kind {
    ok,          // {"return": value}
    refused,     // {"error": {"class": error_class, "desc": desc}}: the VMM's own words
    unanswered,  // no answer: the connection closed or the deadline passed (desc says which)
  };
  Kind kind = Kind::unanswered;
  nlohmann::ordered_json value;
  std::string error_class;
  std::string desc;

  bool ok() const { return kind == Kind::ok; }
};

class VmmMonitor {
 public:
  struct Handlers {
    std::function<void()> ready;                                  // negotiated
    std::function<void(const nlohmann::ordered_json&)> event;     // every event, in order
    std::function<void(const std::string& why)> closed;           // once; commands then fail
  };
  using ReplyHandler = std::function<void(const VmmReply&)>;

  // Deadlines: the greeting and each reply.
  static constexpr unsigned kGreetingTimeoutMs = 5000;
  static constexpr unsigned kReplyTimeoutMs = 10000;

  // Starts connecting to the UNIX socket at path. An error here (no such
  // socket, nothing listening) is immediate; the rest arrives through
  // handlers, never from inside this call.
  static Result<std::unique_ptr<VmmMonitor>> connect(EventLoop& loop, const std::string& path,
                                                     Handlers handlers);
  ~VmmMonitor();
  VmmMonitor(const VmmMonitor&) = delete;
  VmmMonitor& operator=(const VmmMonitor&) = delete;

  // Queues a command; handler gets its reply (or why there is none). fds
  // travel with it. After close, handler is called (later) with unanswered.
  void execute(const std::string& command, nlohmann::ordered_json arguments, std::vector<UniqueFd> fds,
               ReplyHandler handler);
  bool is_open() const { return state_ != State::closed; }
  const std::string& path() const { return path_; }
  // Ends the connection now; no handler is called for it.
  void close();

 private:
  enum class State { greeting, negotiating, ready, closed };
  struct Pending {
    std::string command;
    nlohmann::ordered_json arguments;
    std::vector<UniqueFd> fds;
    ReplyHandler handler;
  };

  VmmMonitor(EventLoop& loop, std::string path, UniqueFd fd, Handlers handlers)
      : loop_(loop), path_(std::move(path)), fd_(std::move(fd)), handlers_(std::move(handlers)) {}

  void on_socket(uint32_t events);
  void on_message(const nlohmann::ordered_json& message);
  void on_timeout();
  void send_next();
  bool flush();
  void fail(const std::string& why);

  EventLoop& loop_;
  std::string path_;
  UniqueFd fd_;
  Handlers handlers_;
  std::unique_ptr<LoopTimer> timer_;
  qmp::JsonFramer framer_;
  State state_ = State::greeting;
  std::deque<Pending> queue_;
  std::optional<Pending> in_flight_;
  uint64_t next_id_ = 1;
  std::string output_;
  std::vector<UniqueFd> output_fds_;  // ride on output_'s first byte
  bool watching_output_ = false;
  // Cleared when this object is destroyed, so a handler that destroys it
  // tells the code that called the handler to stop.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// "the VMM at PATH": how messages name it.
std::string describe(const std::string& path);

}  // namespace vnet::vmm
