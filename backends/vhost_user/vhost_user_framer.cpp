#include "backends/vhost_user/vhost_user_framer.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernel_ifaces/scm_rights.h"

namespace vnet::vhost_user {

size_t Framer::fill(Frame& frame, std::span<const uint8_t> bytes) {
  size_t taken = 0;
  if (!frame.header) {
    size_t n = std::min(kHeaderSize - frame.header_have, bytes.size());
    std::memcpy(frame.header_bytes + frame.header_have, bytes.data(), n);
    frame.header_have += n;
    taken += n;
    if (frame.header_have < kHeaderSize) return taken;
    Header header = decode_header(std::span<const uint8_t, kHeaderSize>(frame.header_bytes, kHeaderSize));
    // Checked before reading on: a size beyond any request's is not trusted
    // to say where the next message starts.
    if (auto ok = check_header(header); !ok) {
      break_stream(ok.take_error());  // frees `frame`: touch it no more
      return bytes.size();
    }
    frame.header = header;
    frame.payload.reserve(header.size);
  }
  size_t n = std::min<size_t>(frame.header->size - frame.payload.size(), bytes.size() - taken);
  frame.payload.insert(frame.payload.end(), bytes.begin() + taken, bytes.begin() + taken + n);
  return taken + n;
}

void Framer::feed(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds) {
  if (broken_) return;  // fds close here
  Frame* fd_owner = nullptr;  // the last frame that begins in this chunk
  while (!bytes.empty()) {
    if (frames_.empty() || frames_.back().complete()) frames_.emplace_back();
    Frame& frame = frames_.back();
    if (frame.header_have == 0) fd_owner = &frame;
    bytes = bytes.subspan(fill(frame, bytes));
    if (broken_) return;
  }
  if (fds.empty()) return;
  if (!fd_owner) {
    break_stream(Error::plain(std::to_string(fds.size()) + (fds.size() == 1 ? " fd" : " fds") +
                              " arrived in the middle of a message"));
    return;
  }
  for (UniqueFd& fd : fds) fd_owner->fds.push_back(std::move(fd));
}

void Framer::break_stream(Error error) {
  broken_ = std::move(error);
  frames_.clear();
}

std::optional<Result<Message>> Framer::next() {
  if (broken_) return Result<Message>(*broken_);
  if (frames_.empty() || !frames_.front().complete()) return std::nullopt;
  Frame frame = std::move(frames_.front());
  frames_.pop_front();
  return parse_message(*frame.header, std::move(frame.payload), std::move(frame.fds));
}

size_t Framer::bytes_wanted() const {
  if (frames_.empty() || frames_.back().complete()) return kHeaderSize;
  const Frame& frame = frames_.back();
  if (!frame.header) return kHeaderSize - frame.header_have;
  return frame.header->size - frame.payload.size();
}

Result<size_t> receive(int sock, Framer& framer) {
  uint8_t buffer[std::max(kHeaderSize, kMaxPayloadSize)];
  std::vector<UniqueFd> fds;
  size_t wanted = framer.bytes_wanted();
  auto received = scm::receive(sock, std::span(reinterpret_cast<char*>(buffer), wanted), fds);
  if (!received) return received.take_error();
  if (received->fds_truncated) {
    // The kernel closed the fds that did not fit; the message is unusable.
    return Error::from_errno(EMSGSIZE, "vhost-user message on socket " + std::to_string(sock) +
                                           " came with more fds than taken (MSG_CTRUNC)");
  }
  framer.feed(std::span(buffer, received->bytes), std::move(fds));
  return received->bytes;
}

}  // namespace vnet::vhost_user
