#include "backends/socket/length_prefix.h"

#include <cerrno>
#include <string>

namespace vnet::socket {

void LengthPrefixReader::reset() {
  length_have_ = 0;
  length_ = 0;
  if (partial_) spares_.push_back(std::move(partial_));
}

void LengthPrefixReader::batch_ended() {
  for (auto& buffer : handed_on_) spares_.push_back(std::move(buffer));
  handed_on_.clear();
}

LengthPrefixReader::Buffer LengthPrefixReader::spare() {
  if (spares_.empty()) return std::make_unique<std::vector<uint8_t>>();
  Buffer buffer = std::move(spares_.back());
  spares_.pop_back();
  buffer->clear();
  return buffer;
}

Result<void> LengthPrefixReader::feed(std::span<const uint8_t> bytes, const Frame& on_frame) {
  while (!bytes.empty()) {
    if (length_have_ < 4) {
      length_bytes_[length_have_++] = bytes.front();
      bytes = bytes.subspan(1);
      if (length_have_ < 4) continue;
      length_ = uint32_t{length_bytes_[0]} << 24 | uint32_t{length_bytes_[1]} << 16 | uint32_t{length_bytes_[2]} << 8 |
                length_bytes_[3];
      if (length_ > kMaxFrame) {
        reset();
        return Error{EMSGSIZE, "a frame of " + std::to_string(length_) + " bytes is over the limit of " +
                                   std::to_string(kMaxFrame)};
      }
      if (length_ == 0) {  // an empty frame: nothing to hand on
        length_have_ = 0;
        continue;
      }
      if (bytes.size() >= length_) {  // whole in this chunk: in place
        on_frame(bytes.first(length_));
        bytes = bytes.subspan(length_);
        length_have_ = 0;
        continue;
      }
      partial_ = spare();
      partial_->reserve(length_);
    }
    size_t take = std::min<size_t>(bytes.size(), length_ - partial_->size());
    partial_->insert(partial_->end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (partial_->size() == length_) {
      on_frame(*partial_);
      handed_on_.push_back(std::move(partial_));
      length_have_ = 0;
    }
  }
  return {};
}

}  // namespace vnet::socket
