#include "kernel_ifaces/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace vnet::log {

namespace {

// The module's one piece of state. The program name is set once at start
// (before threads); the threshold may change at any time.
struct Settings {
  std::atomic<Level> threshold{Level::info};
  std::string program = "vnetd";
};

Settings& settings() {
  static Settings instance;
  return instance;
}

}  // namespace

void set_program(std::string_view name) { settings().program = name; }

void set_threshold(Level level) { settings().threshold.store(level, std::memory_order_relaxed); }

Level threshold() { return settings().threshold.load(std::memory_order_relaxed); }

bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(threshold()); }

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  const std::string& program = settings().program;
  std::string line;
  line.reserve(program.size() + 2 + message.size() + 1);
  line.append(program).append(": ").append(message).push_back('\n');
  // One write(2) per line: a pipe takes up to PIPE_BUF bytes whole, so
  // lines from different threads arrive one after the other. A short write
  // (a longer line, a full pipe) is finished, and a failure dropped: there
  // is nowhere else to say it.
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t written = ::write(STDERR_FILENO, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

}  // namespace vnet::log
