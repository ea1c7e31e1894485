// qmp_load - the load generator of bench/soak.py: many QMP clients, one
// request in flight each, driven by one epoll thread so that the generator
// costs little CPU next to the server it measures.
//
//   qmp_load    (controlled over stdin/stdout, one line per command/result)
//
// stdin, first line, JSON:
//   {"sockets": [PATH, ...],          client k connects to sockets[k]
//    "types": [KIND, ...],            the types, in the order clients cycle them
//    "arguments": [[{...}, ...], ...]} arguments[k][t]: netdev_add's arguments
//                                     for client k, type t, without "id"
// Each client connects, reads the greeting and sends qmp_capabilities; the
// driver then prints "ready". Then each line "run N" runs N more add/del
// cycles spread over the clients, as a budget: client k starts one cycle, and
// another each time its netdev_del is answered while the budget lasts. Client
// k's c-th cycle (c counted over all runs) is of type (k + c) mod len(types)
// with id "c{k}n{c}"; cycles are numbered over all clients and runs in the
// order they start. A run prints one line per request,
//   CYCLE TYPE-INDEX a|d NANOSECONDS
// (send to the reply's last byte, CLOCK_MONOTONIC), then "done". End of stdin:
// the connections close and the driver exits 0.
// Events are skipped. A reply other than {"return": {}}, a closed connection,
// no reply within 60 s or any system error: "error MESSAGE-AS-JSON-STRING",
// exit 1.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Json = nlohmann::ordered_json;
constexpr int64_t kReplyTimeoutNs = 60'000'000'000;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail_errno(const std::string& what) {
  throw Failure(what + ": " + std::strerror(errno));
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

enum class Message { kSuccess, kOther, kSkip };

// The first member's name of a JSON object line, if it is a plain string
// (no escapes); empty otherwise.
std::string_view first_key(std::string_view line) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
  };
  skip_space();
  if (i == line.size() || line[i] != '{') return {};
  ++i;
  skip_space();
  if (i == line.size() || line[i] != '"') return {};
  size_t end = line.find_first_of("\"\\", ++i);
  if (end == std::string_view::npos || line[end] != '"') return {};
  return line.substr(i, end - i);
}

// What a QMP line is: {"return": {}} (the common case, recognized without
// parsing), another reply (return or error), or something to skip (an event,
// anything that is neither a return nor an error, as QMP clients do).
// vnetd sends every client every VNET_NETDEV_ADDED/DELETED event: with 100
// clients, a hundred events per request. Only events have a member "event"
// or "timestamp" (QMP spec), and QEMU and vnetd put "timestamp" first, so
// an event is known by its first member's name without parsing it.
Message classify(std::string_view line) {
  if (line == R"({"return": {}})" || line == R"({"return":{}})") return Message::kSuccess;
  if (std::string_view key = first_key(line); key == "timestamp" || key == "event") return Message::kSkip;
  Json message = Json::parse(line, nullptr, false);
  if (!message.is_object()) return Message::kOther;  // unparsable: reported
  if (message.contains("event")) return Message::kSkip;
  if (!message.contains("return") && !message.contains("error")) return Message::kSkip;
  if (message == Json{{"return", Json::object()}}) return Message::kSuccess;
  return Message::kOther;
}

struct Client {
  int index = 0;
  std::string path;
  Fd fd;
  std::string buffer;  // bytes read, not yet a complete line
  std::vector<std::string> tails;  // per type: the add arguments after "id", serialized
  uint64_t cycles = 0;  // cycles this client has started, over all runs
  // The request in flight.
  bool busy = false;
  bool adding = false;
  uint64_t cycle = 0;
  int type = 0;
  std::string id;
  std::string request;
  int64_t sent_at = 0;
};

// The request in flight, for a message.
std::string shown(const Client& client) {
  std::string_view request = client.request;
  if (!request.empty() && request.back() == '\n') request.remove_suffix(1);
  return std::string(request);
}

void write_all(Client& client, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(client.fd.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {  // rare: a full send buffer
      pollfd p{client.fd.get(), POLLOUT, 0};
      int ready = poll(&p, 1, static_cast<int>(kReplyTimeoutNs / 1'000'000));
      if (ready < 0 && errno != EINTR) fail_errno("poll " + client.path);
      if (ready == 0) throw Failure("could not send for 60 s on " + client.path);
    } else if (n < 0 && errno != EINTR) {
      fail_errno("send to " + client.path + " (client " + std::to_string(client.index) + ")");
    }
  }
}

// Blocking: the next line the server sends.
std::string read_line_blocking(Client& client) {
  for (;;) {
    if (size_t nl = client.buffer.find('\n'); nl != std::string::npos) {
      std::string line = client.buffer.substr(0, nl);
      client.buffer.erase(0, nl + 1);
      return line;
    }
    char chunk[4096];
    ssize_t n = recv(client.fd.get(), chunk, sizeof chunk, 0);
    if (n == 0) throw Failure("the server closed client " + std::to_string(client.index) + "'s connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) throw Failure("no greeting or qmp_capabilities reply within 60 s on " + client.path);
      fail_errno("recv from " + client.path);
    }
    client.buffer.append(chunk, static_cast<size_t>(n));
  }
}

void connect_client(Client& client) {
  client.fd = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.fd.get() < 0) fail_errno("socket");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (client.path.size() >= sizeof address.sun_path) throw Failure("socket path too long: " + client.path);
  std::memcpy(address.sun_path, client.path.c_str(), client.path.size() + 1);
  if (connect(client.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
    fail_errno("connect " + client.path);
  timeval timeout{kReplyTimeoutNs / 1'000'000'000, 0};
  setsockopt(client.fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  read_line_blocking(client);  // the greeting
  write_all(client, "{\"execute\":\"qmp_capabilities\"}\n");
  for (;;) {
    std::string line = read_line_blocking(client);
    Message kind = classify(trim(line));
    if (kind == Message::kSuccess) break;
    if (kind == Message::kOther) throw Failure("qmp_capabilities refused: " + line);
  }
  int flags = fcntl(client.fd.get(), F_GETFL);
  if (flags < 0 || fcntl(client.fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) fail_errno("fcntl O_NONBLOCK");
}

class Driver {
 public:
  explicit Driver(const Json& job) {
    const auto& sockets = job.at("sockets");
    const auto& arguments = job.at("arguments");
    for (const auto& type : job.at("types")) types_.push_back(type.get<std::string>());
    if (types_.empty() || sockets.size() != arguments.size()) throw Failure("bad job: types, sockets, arguments");
    clients_.resize(sockets.size());
    epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
    if (epoll_.get() < 0) fail_errno("epoll_create1");
    for (size_t k = 0; k < clients_.size(); ++k) {
      Client& client = clients_[k];
      client.index = static_cast<int>(k);
      client.path = sockets[k].get<std::string>();
      if (arguments[k].size() != types_.size()) throw Failure("bad job: arguments per type");
      for (const auto& add : arguments[k]) {
        std::string body = add.dump();  // {"type":...,...}: keep what follows '{'
        if (add.contains("id") || body.size() < 2) throw Failure("bad job: arguments carry no id");
        client.tails.push_back(body.size() == 2 ? "}" : "," + body.substr(1));
      }
      connect_client(client);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = k;
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, client.fd.get(), &event) < 0) fail_errno("epoll_ctl");
    }
  }

  // `cycles` more add/del cycles; one output line per request.
  void run(uint64_t cycles) {
    budget_ = cycles;
    size_t active = 0;
    for (Client& client : clients_) {
      if (budget_ == 0) break;
      --budget_;
      start_cycle(client);
      ++active;
    }
    int64_t last_check = now_ns();
    std::vector<epoll_event> events(clients_.size() + 1);
    while (active) {
      int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("epoll_wait");
      }
      for (int i = 0; i < n; ++i) active -= on_readable(clients_[events[i].data.u64]);
      if (int64_t now = now_ns(); now - last_check > 1'000'000'000) {
        last_check = now;
        for (const Client& client : clients_)
          if (client.busy && now - client.sent_at > kReplyTimeoutNs)
            throw Failure("no reply within 60 s to " + shown(client));
      }
    }
    std::fwrite(out_.data(), 1, out_.size(), stdout);
    out_.clear();
    std::fputs("done\n", stdout);
    std::fflush(stdout);
  }

 private:
  void start_cycle(Client& client) {
    client.cycle = started_++;
    client.type = static_cast<int>((client.index + client.cycles) % types_.size());
    client.id = "c" + std::to_string(client.index) + "n" + std::to_string(client.cycles);
    ++client.cycles;
    client.adding = true;
    send_request(client, "{\"execute\":\"netdev_add\",\"arguments\":{\"id\":\"" + client.id + "\"" +
                             client.tails[client.type] + "}\n");
  }

  void send_request(Client& client, std::string request) {
    client.request = std::move(request);
    client.busy = true;
    client.sent_at = now_ns();
    write_all(client, client.request);
  }

  // Reads what has arrived; returns 1 if the client went idle (its cycles done).
  int on_readable(Client& client) {
    char chunk[65536];
    ssize_t n = recv(client.fd.get(), chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      fail_errno("recv from " + client.path);
    }
    int64_t now = now_ns();
    if (n == 0) throw Failure("the server closed client " + std::to_string(client.index) + "'s connection" +
                              (client.busy ? " with " + shown(client) + " in flight" : ""));
    client.buffer.append(chunk, static_cast<size_t>(n));
    int went_idle = 0;
    size_t start = 0;
    for (size_t nl; (nl = client.buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line = trim(std::string_view(client.buffer).substr(start, nl - start));
      if (line.empty()) continue;
      Message kind = classify(line);
      if (kind == Message::kSkip) continue;
      if (!client.busy) throw Failure("client " + std::to_string(client.index) + ": a reply with nothing asked: " +
                                      std::string(line));
      if (kind != Message::kSuccess) throw Failure(shown(client) + " answered " + std::string(line));
      client.busy = false;
      char sample[96];
      int len = std::snprintf(sample, sizeof sample, "%llu %d %c %lld\n",
                              static_cast<unsigned long long>(client.cycle), client.type,
                              client.adding ? 'a' : 'd', static_cast<long long>(now - client.sent_at));
      out_.append(sample, static_cast<size_t>(len));
      if (client.adding) {
        client.adding = false;
        send_request(client, "{\"execute\":\"netdev_del\",\"arguments\":{\"id\":\"" + client.id + "\"}}\n");
      } else if (budget_ > 0) {
        --budget_;
        start_cycle(client);
      } else {
        went_idle = 1;
      }
    }
    client.buffer.erase(0, start);
    return went_idle;
  }

  std::vector<std::string> types_;
  std::vector<Client> clients_;
  Fd epoll_;
  uint64_t budget_ = 0;
  uint64_t started_ = 0;
  std::string out_;  // a run's samples, written when it ends
};

}  // namespace

int main() {
  try {
    std::string line;
    if (!std::getline(std::cin, line)) throw Failure("no job on stdin");
    Driver driver(Json::parse(line));
    std::fputs("ready\n", stdout);
    std::fflush(stdout);
    while (std::getline(std::cin, line)) {
      if (line.rfind("run ", 0) != 0) throw Failure("unknown command: " + line);
      driver.run(std::stoull(line.substr(4)));
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("error %s\n", Json(e.what()).dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    return 1;
  }
}
