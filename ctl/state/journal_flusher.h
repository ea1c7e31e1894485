// JournalFlusher - flushes the state journal to the device off the daemon's
// loop (SyncPolicy::kBackground): an fdatasync can wait for the device for
// milliseconds, more on a busy disk, and no QMP request should wait behind
// it. One flush at a time; a journal handed over while one runs is flushed
// after it, a newer hand-over replacing an older one still waiting (the
// journal is one file, so the newer covers the older).
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::state {

class JournalFlusher {
 public:
  JournalFlusher();
  ~JournalFlusher();  // flushes what was handed over, then stops
  JournalFlusher(const JournalFlusher&) = delete;
  JournalFlusher& operator=(const JournalFlusher&) = delete;

  // fd: the journal (a dup, closed once flushed); path names it in errors.
  void flush(UniqueFd fd, std::string path);
  // Until what was handed over so far is flushed (for tests; the destructor
  // flushes what is left itself).
  void wait_idle();
  uint64_t flushes() const;

 private:
  struct Job {
    UniqueFd fd;
    std::string path;
  };
  void work();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Job> pending_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t flushes_ = 0;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace vnet::state
