// Framer - cuts vhost-user messages out of a SOCK_STREAM unix socket's bytes
// and attaches the fds that came with them, without touching a socket (so it
// can be fed byte by byte, or fuzzed); receive() is the thin recvmsg side.
//
// Where fds land: the kernel hands a message's SCM_RIGHTS fds to the
// recvmsg() that reads the first byte of the sendmsg() that sent them, and
// a recvmsg() stops right after that sendmsg's bytes. So the fds fed with a
// chunk belong to the last message whose header begins in that chunk; fds
// with a chunk in which no message begins break the stream.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "backends/vhost_user/vhost_user_message.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::vhost_user {

class Framer {
 public:
  // Bytes as they arrived, with the fds that came with them (owned now).
  void feed(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds = {});

  // The next complete message, checked by parse_message(); nullopt when
  // more bytes are needed. An Error for a message that was framed but broke
  // its request's rules consumes that message (the next one can follow). An
  // Error for the stream itself (bad version, oversized payload, stray fds)
  // is returned from then on, and later bytes are dropped: the caller closes
  // the connection.
  std::optional<Result<Message>> next();

  bool broken() const { return broken_.has_value(); }
  // How many bytes complete the message in progress (its header first), so
  // that a reader never reads past it: at least 1.
  size_t bytes_wanted() const;

 private:
  struct Frame {
    uint8_t header_bytes[kHeaderSize];
    size_t header_have = 0;
    std::optional<Header> header;  // once header_have == kHeaderSize
    std::vector<uint8_t> payload;
    std::vector<UniqueFd> fds;
    bool complete() const { return header && payload.size() == header->size; }
  };

  // Consumes bytes into the frame at the back; returns how many it took.
  size_t fill(Frame& frame, std::span<const uint8_t> bytes);
  void break_stream(Error error);

  std::deque<Frame> frames_;  // complete ones, then at most one in progress
  std::optional<Error> broken_;
};

// One recvmsg() (MSG_CMSG_CLOEXEC) of at most framer.bytes_wanted() bytes,
// fed to the framer with the fds that came; reading no further than the
// message in progress keeps each message's fds with its own bytes. Returns
// the bytes read: 0 when the peer closed the connection. An fd list cut
// short (MSG_CTRUNC) is an Error, with what did arrive closed and the bytes
// dropped: the caller closes the connection. On a non-blocking socket with
// nothing to read, the Error's errnum is EAGAIN.
Result<size_t> receive(int sock, Framer& framer);

}  // namespace vnet::vhost_user
