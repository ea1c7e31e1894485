// vnetd's log: one line "<program>: <message>\n" on stderr per call, written
// with a single write(2) so that lines from the loop and from worker threads
// (the journal flusher, teardown) do not interleave. Tests grep vnetd's
// stderr for these lines: a message's text is part of the interface.
#pragma once

#include <string_view>

namespace vnet::log {

// Most severe first: a line is written when its level is at or above the
// threshold's severity (default info, so debug lines are dropped).
enum class Level { error, warning, info, debug };

// set_program() - the prefix of every line ("vnetd" unless set). Call it once,
// at start, before any thread logs.
void set_program(std::string_view name);

void set_threshold(Level level);
Level threshold();
bool enabled(Level level);

// write() - @message as one line at @level (a trailing newline is not needed).
void write(Level level, std::string_view message);

// An error loses something (a device, a record, a client); a warning is
// something the daemon goes on from; info is what it did (start, stop,
// re-adopted, served); debug is detail asked for with --verbose.
inline void error(std::string_view message) { write(Level::error, message); }
inline void warning(std::string_view message) { write(Level::warning, message); }
inline void info(std::string_view message) { write(Level::info, message); }
inline void debug(std::string_view message) { write(Level::debug, message); }

}  // namespace vnet::log
