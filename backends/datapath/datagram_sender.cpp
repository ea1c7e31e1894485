#include "backends/datapath/datagram_sender.h"

#include <cerrno>
#include <algorithm>
#include <cstring>

namespace vnet::datapath {

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

void DatagramSender::prepare_messages() {
  if (messages_.size() < queued_) messages_.resize(queued_);
  for (size_t index = 0; index < queued_; index++) {
    Slot& slot = slots_[index];
    mmsghdr& message = messages_[index];
    message = {};
    slot.parts[0] = {slot.header.data(), slot.header_length};
    slot.parts[1] = {const_cast<uint8_t*>(slot.frame.data()), slot.frame.size()};
    message.msg_hdr.msg_iov = slot.header_length ? slot.parts : slot.parts + 1;
    message.msg_hdr.msg_iovlen = slot.header_length ? 2 : 1;
    if (slot.to_length) {
      message.msg_hdr.msg_name = &slot.to;
      message.msg_hdr.msg_namelen = slot.to_length;
    }
  }
}

void DatagramSender::account(size_t index, ssize_t result, int error) {
  const msghdr& header = messages_[index].msg_hdr;
  if (result < 0) {
    counters_.drops_error++;
    counters_.last_error = error;
    return;
  }
  counters_.frames++;
  for (size_t i = 0; i < header.msg_iovlen; i++) counters_.bytes += header.msg_iov[i].iov_len;
}

void DatagramSender::flush_batch() {
  prepare_messages();
  size_t done = 0;
  while (done < queued_) {
    int sent = sendmmsg(fd_, messages_.data() + done, static_cast<unsigned>(queued_ - done), MSG_DONTWAIT);
    if (sent <= 0) {
      // The first message failed: count it and go on with the rest. A full
      // socket buffer (EAGAIN) drops the frame: UDP has no back-pressure.
      account(done, -1, sent < 0 ? errno : EIO);
      done++;
      continue;
    }
    for (int i = 0; i < sent; i++) account(done + i, 0, 0);
    done += sent;
  }
  queued_ = 0;
}

std::vector<Detail> DatagramSender::details(const std::string& prefix) const {
  std::vector<Detail> out{{prefix + "frames-out", static_cast<int64_t>(counters_.frames)},
                          {prefix + "bytes-out", static_cast<int64_t>(counters_.bytes)},
                          {prefix + "drops-send-error", static_cast<int64_t>(counters_.drops_error)}};
  if (counters_.last_error) out.push_back({prefix + "last-send-error", std::string(std::strerror(counters_.last_error))});
  return out;
}

}  // namespace vnet::datapath
