#include "ctl/state/journal_flusher.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel_ifaces/log.h"

namespace vnet::state {

JournalFlusher::JournalFlusher() : thread_([this] { work(); }) {}

JournalFlusher::~JournalFlusher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void JournalFlusher::flush(UniqueFd fd, std::string path) {
  if (!fd) return;
  {
    std::lock_guard lock(mutex_);
    pending_ = Job{std::move(fd), std::move(path)};
  }
  changed_.notify_all();
}

void JournalFlusher::wait_idle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !pending_ && !busy_; });
}

uint64_t JournalFlusher::flushes() const {
  std::lock_guard lock(mutex_);
  return flushes_;
}

void JournalFlusher::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || pending_; });
    if (!pending_) return;  // stopping, and nothing left to flush
    Job job = std::move(*pending_);
    pending_.reset();
    busy_ = true;
    lock.unlock();
    int result = fdatasync(job.fd.get());
    int err = errno;
    job.fd.reset();
    if (result < 0) {
      // The commits stay written, so kill -9 loses nothing; a host crash
      // could. Said in the log, for the operator.
      log::error("state: fdatasync " + job.path + ": " + std::strerror(err));
    }
    lock.lock();
    busy_ = false;
    flushes_++;
    changed_.notify_all();
  }
}

}  // namespace vnet::state
