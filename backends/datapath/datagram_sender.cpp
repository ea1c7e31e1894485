#include "backends/datapath/datagram_sender.h"

#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kernel_ifaces/log.h"

namespace vnet::datapath {
namespace {

int socket_option(int fd, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : -1;
}

bool is_udp_socket(int fd) {
  int domain = socket_option(fd, SO_DOMAIN);
  return (domain == AF_INET || domain == AF_INET6) && socket_option(fd, SO_TYPE) == SOCK_DGRAM &&
         socket_option(fd, SO_PROTOCOL) == IPPROTO_UDP;
}

// What the kernel answers a GSO send it will not take (no checksum offload on
// the route, SO_NO_CHECK, a segment over the path's MTU...): the same
// datagrams go one by one instead. EMSGSIZE: full-sized frames over an
// underlay with no headroom (Linux 6.18), which one by one are fragmented.
bool refuses_gso(int error) {
  return error == EINVAL || error == EIO || error == EOPNOTSUPP || error == ENOPROTOOPT || error == EMSGSIZE;
}

}  // namespace

DatagramSender::DatagramSender(FrameLoop& loop, int fd) : loop_(loop), fd_(fd), gso_(is_udp_socket(fd)) {}

DatagramSender::~DatagramSender() {
  // Frames queued in this batch still go out: they were accepted.
  flush_batch();
  loop_.forget_flush(*this);
}

void DatagramSender::send(std::span<const uint8_t> header, std::span<const uint8_t> frame, const SocketAddress* to,
                          socklen_t to_length) {
  if (queued_ == kBatch) flush_batch();
  size_t index = queued_++;
  if (slots_.size() < queued_) slots_.resize(queued_);
  Slot& slot = slots_[index];
  slot.header_length = std::min(header.size(), kMaxHeader);
  // An empty header may have no storage at all: memcpy's source must never be
  // null, even for 0 bytes (UBSan's nonnull-attribute check).
  if (slot.header_length) std::memcpy(slot.header.data(), header.data(), slot.header_length);
  slot.frame = frame;
  slot.to_length = to ? std::min<socklen_t>(to_length, sizeof slot.to) : 0;
  if (to) std::memcpy(&slot.to, to, slot.to_length);
  if (loop_.in_batch()) loop_.defer_flush(*this);
  else flush_batch();
}

bool DatagramSender::same_destination(const Slot& a, const Slot& b) const {
  return a.to_length == b.to_length && std::memcmp(&a.to, &b.to, a.to_length) == 0;
}

size_t DatagramSender::run_length(size_t first) const {
  const size_t segment = slots_[first].size();
  if (!gso_ || segment == 0) return 1;
  size_t length = 1, bytes = segment;
  while (first + length < queued_ && length < kMaxGsoSegments) {
    const Slot& next = slots_[first + length];
    if (!same_destination(slots_[first], next) || next.size() == 0 || next.size() > segment ||
        bytes + next.size() > kMaxGsoBytes) {
      break;
    }
    bytes += next.size();
    length++;
    if (next.size() < segment) break;  // only the last datagram of a run may be shorter
  }
  return length;
}

void DatagramSender::prepare_messages(size_t first_slot) {
  messages_.clear();
  for (size_t slot = first_slot; slot < queued_;) {
    Message& message = messages_.emplace_back();
    message.first_slot = slot;
    message.slots = run_length(slot);
    slot += message.slots;
  }
  // Pointers into parts_ are taken only once it is whole, so it never moves
  // under them.
  parts_.clear();
  for (size_t slot = first_slot; slot < queued_; slot++) {
    Slot& queued = slots_[slot];
    if (queued.header_length) parts_.push_back({queued.header.data(), queued.header_length});
    parts_.push_back({const_cast<uint8_t*>(queued.frame.data()), queued.frame.size()});
  }
  headers_.assign(messages_.size(), mmsghdr{});
  size_t part = 0;
  for (size_t index = 0; index < messages_.size(); index++) {
    Message& message = messages_[index];
    msghdr& header = headers_[index].msg_hdr;
    header.msg_iov = parts_.data() + part;
    for (size_t slot = message.first_slot; slot < message.first_slot + message.slots; slot++) {
      const Slot& queued = slots_[slot];
      part += queued.header_length ? 2 : 1;
      message.bytes += queued.size();
    }
    header.msg_iovlen = static_cast<size_t>(parts_.data() + part - header.msg_iov);
    const Slot& first = slots_[message.first_slot];
    if (first.to_length) {
      header.msg_name = const_cast<SocketAddress*>(&first.to);
      header.msg_namelen = first.to_length;
    }
    if (message.slots > 1) {
      header.msg_control = message.control.data();
      header.msg_controllen = message.control.size();
      cmsghdr* segment = CMSG_FIRSTHDR(&header);
      segment->cmsg_level = SOL_UDP;
      segment->cmsg_type = UDP_SEGMENT;
      segment->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto size = static_cast<uint16_t>(first.size());
      std::memcpy(CMSG_DATA(segment), &size, sizeof size);
    }
  }
}

void DatagramSender::account(const Message& message, bool sent, int error) {
  if (!sent) {
    counters_.drops_error += message.slots;
    counters_.last_error = error;
    return;
  }
  counters_.frames += message.slots;
  counters_.bytes += message.bytes;
  if (message.slots > 1) counters_.gso_sends++;
}

void DatagramSender::flush_batch() {
  prepare_messages(0);
  size_t done = 0;
  while (done < messages_.size()) {
    int sent = sendmmsg(fd_, headers_.data() + done, static_cast<unsigned>(messages_.size() - done), MSG_DONTWAIT);
    if (sent > 0) {
      for (int i = 0; i < sent; i++) account(messages_[done + i], true, 0);
      done += static_cast<size_t>(sent);
      continue;
    }
    const int error = sent < 0 ? errno : EIO;
    const Message& failed = messages_[done];
    if (failed.slots > 1 && refuses_gso(error)) {
      gso_ = false;
      gso_refused_ = std::strerror(error);
      log::info("a UDP socket's GSO send was refused (" + gso_refused_ + "): its datagrams go one by one");
      prepare_messages(failed.first_slot);
      done = 0;
      continue;
    }
    // The first message failed: count it and go on with the rest. A full
    // socket buffer (EAGAIN) drops the frame: UDP has no back-pressure.
    account(failed, false, error);
    done++;
  }
  queued_ = 0;
}

std::vector<Detail> DatagramSender::details(const std::string& prefix) const {
  std::vector<Detail> out{{prefix + "frames-out", static_cast<int64_t>(counters_.frames)},
                          {prefix + "bytes-out", static_cast<int64_t>(counters_.bytes)},
                          {prefix + "drops-send-error", static_cast<int64_t>(counters_.drops_error)}};
  if (counters_.last_error) out.push_back({prefix + "last-send-error", std::string(std::strerror(counters_.last_error))});
  if (gso_ || !gso_refused_.empty()) {
    out.push_back({prefix + "udp-gso", gso_});
    out.push_back({prefix + "udp-gso-sends", static_cast<int64_t>(counters_.gso_sends)});
    if (!gso_refused_.empty()) out.push_back({prefix + "udp-gso-refused", gso_refused_});
  }
  return out;
}

}  // namespace vnet::datapath
