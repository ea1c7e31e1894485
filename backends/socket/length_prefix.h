// LengthPrefixReader - frames out of a TCP byte stream as QEMU's net_fill_rstate()
// cuts them: each frame behind its length as 4 bytes, big-endian. A frame
// wholly inside one received chunk is handed on in place; one split across
// chunks is put together in a buffer that stays valid until the frame loop's
// batch ends (the receiver may send it on by reference).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet::socket {

class LengthPrefixReader {
 public:
  using Frame = std::function<void(std::span<const uint8_t> frame)>;
  // QEMU's NET_BUFSIZE: a longer frame ends the connection (net_fill_rstate).
  static constexpr uint32_t kMaxFrame = 4096 + 65536;

  // Hands every whole frame in `bytes` to on_frame; an error when a length is
  // over kMaxFrame (the stream can't be trusted after it).
  Result<void> feed(std::span<const uint8_t> bytes, const Frame& on_frame);
  // The batch has ended: buffers of put-together frames may be reused.
  void batch_ended();
  // A new connection starts from a clean state.
  void reset();

 private:
  using Buffer = std::unique_ptr<std::vector<uint8_t>>;
  Buffer spare();

  uint8_t length_bytes_[4]{};
  unsigned length_have_ = 0;  // bytes of the length read so far
  uint32_t length_ = 0;
  Buffer partial_;                 // the frame being put together
  std::vector<Buffer> handed_on_;  // put together in this batch: still in use
  std::vector<Buffer> spares_;
};

}  // namespace vnet::socket
