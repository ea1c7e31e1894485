#include "backends/socket/stream_sender.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

namespace vnet::socket {

StreamSender::~StreamSender() {
  watch_writable(false);
  loop_.forget_flush(*this);
}

void StreamSender::attach(int fd) {
  watch_writable(false);
  fd_ = fd;
  // A new connection starts clean: a half-written frame from the old one
  // would make the stream unreadable.
  backlog_.clear();
  backlog_sent_ = 0;
  if (fd_ >= 0) watch_writable(true);  // a connect in progress ends writable
}

void StreamSender::send(std::span<const uint8_t> frame) {
  if (queued_.size() == kBatch) flush_batch();
  lengths_.push_back(htonl(static_cast<uint32_t>(frame.size())));
  queued_.push_back(frame);
  if (loop_.in_batch()) loop_.defer_flush(*this);
  else flush_batch();
}

// The connection broke: nothing more is written on it (its owner sees the
// end on the receive side and attaches the next one, if any).
void StreamSender::fail(int error) {
  last_error_ = error;
  drops_error_++;
  watch_writable(false);
  fd_ = -1;
  backlog_.clear();
  backlog_sent_ = 0;
}

void StreamSender::flush_batch() {
  if (queued_.empty()) return;
  std::vector<iovec> parts;
  parts.reserve(queued_.size() * 2);
  for (size_t i = 0; i < queued_.size(); i++) {
    parts.push_back({&lengths_[i], 4});
    parts.push_back({const_cast<uint8_t*>(queued_[i].data()), queued_[i].size()});
  }
  size_t written = 0;
  // Nothing goes ahead of a backlog: order on the stream is the frames'.
  if (fd_ >= 0 && backlog_.size() == backlog_sent_ && !writable_watch_) {
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = std::min<size_t>(parts.size(), IOV_MAX);
    ssize_t result = ::sendmsg(fd_, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (result > 0) written = static_cast<size_t>(result);
    else if (result < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) fail(errno);
  }
  // Whole frames sent are counted; the rest goes to the backlog, a frame
  // begun on the wire always (it must be finished), others while they fit.
  size_t offset = 0;
  for (size_t i = 0; i < queued_.size(); i++) {
    size_t size = 4 + queued_[i].size();
    if (offset + size <= written) {
      frames_++;
      bytes_ += queued_[i].size();
    } else {
      size_t done = written > offset ? written - offset : 0;
      bool begun = done > 0;
      if (fd_ < 0) {
        drops_no_connection_++;
      } else if (!begun && backlog_.size() - backlog_sent_ + size > kBacklogLimit) {
        drops_backpressure_++;
      } else {
        const auto* length = reinterpret_cast<const uint8_t*>(&lengths_[i]);
        for (size_t b = done; b < 4; b++) backlog_.push_back(length[b]);
        size_t frame_done = done > 4 ? done - 4 : 0;
        backlog_.insert(backlog_.end(), queued_[i].begin() + static_cast<ptrdiff_t>(frame_done), queued_[i].end());
        frames_++;  // accepted: it leaves with the backlog
        bytes_ += queued_[i].size();
      }
    }
    offset += size;
  }
  queued_.clear();
  lengths_.clear();
  if (backlog_.size() > backlog_sent_) watch_writable(true);
}

bool StreamSender::write_backlog() {
  while (backlog_sent_ < backlog_.size()) {
    ssize_t result = ::send(fd_, backlog_.data() + backlog_sent_, backlog_.size() - backlog_sent_,
                            MSG_DONTWAIT | MSG_NOSIGNAL);
    if (result < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) return true;
      fail(errno);
      return false;
    }
    backlog_sent_ += static_cast<size_t>(result);
  }
  backlog_.clear();
  backlog_sent_ = 0;
  return true;
}

void StreamSender::watch_writable(bool on) {
  if (!on) {
    if (writable_watch_) loop_.unwatch(*writable_watch_);
    writable_watch_.reset();
    return;
  }
  if (writable_watch_ || fd_ < 0) return;
  auto watch = loop_.watch(fd_, POLLOUT, [this](uint32_t revents) {
    if (revents & (POLLERR | POLLHUP)) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
      fail(error ? error : EPIPE);
      return;
    }
    if (write_backlog() && backlog_.empty()) watch_writable(false);
  });
  if (watch) writable_watch_ = *watch;
}

std::vector<Detail> StreamSender::details() const {
  std::vector<Detail> out{{"frames-out", static_cast<int64_t>(frames_)},
                          {"bytes-out", static_cast<int64_t>(bytes_)},
                          {"backlog-bytes", static_cast<int64_t>(backlog_.size() - backlog_sent_)},
                          {"drops-backpressure", static_cast<int64_t>(drops_backpressure_)},
                          {"drops-no-connection", static_cast<int64_t>(drops_no_connection_)},
                          {"drops-send-error", static_cast<int64_t>(drops_error_)}};
  if (last_error_) out.push_back({"last-send-error", std::string(std::strerror(last_error_))});
  return out;
}

}  // namespace vnet::socket
