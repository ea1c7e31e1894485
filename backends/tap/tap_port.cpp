#include "backends/tap/tap_port.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vnet::tap {

TapPort::TapPort(datapath::FrameLoop& loop, std::vector<int> queue_fds, int header_size, Backend& peer)
    : loop_(loop), queue_fds_(std::move(queue_fds)), zero_header_(header_size, 0), peer_(peer) {}

Result<std::unique_ptr<TapPort>> TapPort::start(datapath::FrameLoop& loop, std::vector<int> queue_fds,
                                                int header_size, Backend& peer) {
  if (queue_fds.empty()) return Error{EBADF, "no queue fd to carry frames on (a VMM holds them all)"};
  std::unique_ptr<TapPort> port(new TapPort(loop, std::move(queue_fds), header_size, peer));
  for (size_t queue = 0; queue < port->queue_fds_.size(); queue++) {
    TapPort* raw = port.get();
    auto reader = loop.add_frame_reader(
        port->queue_fds_[queue], [raw](std::span<const uint8_t> data) { raw->received(data); },
        [raw, queue](int) {
          raw->readers_[queue].reset();  // ended: the id is no longer ours
          raw->queues_gone_++;
        });
    if (!reader) return reader.take_error();
    port->readers_.push_back(*reader);
  }
  return port;
}

TapPort::~TapPort() {
  for (auto& reader : readers_) {
    if (reader) loop_.remove_receiver(*reader);
  }
}

void TapPort::received(std::span<const uint8_t> data) {
  if (data.size() <= zero_header_.size()) {
    drops_short_++;
    return;
  }
  // Offloads are never turned on for such queues, so the header says nothing.
  auto frame = data.subspan(zero_header_.size());
  frames_in_++;
  bytes_in_ += frame.size();
  (void)peer_.send_from_guest(frame);
}

Result<void> TapPort::write(std::span<const uint8_t> frame) {
  iovec parts[2] = {{zero_header_.data(), zero_header_.size()}, {const_cast<uint8_t*>(frame.data()), frame.size()}};
  if (writev(queue_fds_.front(), parts, 2) < 0) {
    drops_write_++;
    last_write_error_ = errno;
    return Error::from_errno(errno, "writing a frame into the tap");
  }
  frames_out_++;
  bytes_out_ += frame.size();
  return {};
}

std::vector<Detail> TapPort::details() const {
  std::vector<Detail> out{{"frames-in", static_cast<int64_t>(frames_in_)},
                          {"bytes-in", static_cast<int64_t>(bytes_in_)},
                          {"frames-out", static_cast<int64_t>(frames_out_)},
                          {"bytes-out", static_cast<int64_t>(bytes_out_)},
                          {"drops-short", static_cast<int64_t>(drops_short_)},
                          {"drops-write-error", static_cast<int64_t>(drops_write_)}};
  if (last_write_error_) out.push_back({"last-write-error", std::string(std::strerror(last_write_error_))});
  if (queues_gone_) out.push_back({"queues-gone", static_cast<int64_t>(queues_gone_)});
  return out;
}

}  // namespace vnet::tap
