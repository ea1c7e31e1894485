// The socket netdev's stream framer (QEMU's 4-byte big-endian length
// prefix). Input: a byte stream; its first bytes also choose how it is cut
// into received chunks and where batches end. The frames handed on must be
// those of a plain reading of the whole stream, in order, and a frame handed
// on must stay readable until its batch ends (ASan checks that).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "backends/socket/length_prefix.h"
#include "tests/fuzz/fake_daemon.h"

namespace {

using Frames = std::vector<std::vector<uint8_t>>;

// The stream read in one go: frames until the end or an oversized length.
Frames plain_reading(std::span<const uint8_t> stream, bool& oversized) {
  Frames frames;
  oversized = false;
  while (stream.size() >= 4) {
    uint32_t length = uint32_t{stream[0]} << 24 | uint32_t{stream[1]} << 16 | uint32_t{stream[2]} << 8 | stream[3];
    if (length > vnet::socket::LengthPrefixReader::kMaxFrame) {
      oversized = true;
      break;
    }
    stream = stream.subspan(4);
    if (stream.size() < length) break;
    if (length > 0) frames.emplace_back(stream.begin(), stream.begin() + length);
    stream = stream.subspan(length);
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vnet::fuzz::contract_broken;
  if (size < 2) return 0;
  uint8_t cut = data[0] | 1;       // chunk sizes: 1..255, varying
  uint8_t batch_every = data[1];   // chunks per batch (0: one batch)
  std::span<const uint8_t> stream(data + 2, size - 2);

  bool oversized = false;
  Frames expected = plain_reading(stream, oversized);

  vnet::socket::LengthPrefixReader reader;
  Frames got;
  std::vector<std::pair<std::span<const uint8_t>, size_t>> in_batch;  // handed on, not yet released
  bool failed = false;
  size_t chunks = 0;
  for (size_t at = 0; at < stream.size() && !failed; chunks++) {
    size_t n = std::min<size_t>(stream.size() - at, 1 + (cut * (chunks + 1)) % 251);
    auto fed = reader.feed(stream.subspan(at, n), [&](std::span<const uint8_t> frame) {
      in_batch.emplace_back(frame, got.size());
      got.emplace_back(frame.begin(), frame.end());
    });
    at += n;
    failed = !fed;
    if (batch_every && chunks % batch_every == 0) {
      for (const auto& [frame, index] : in_batch) {
        if (frame.size() != got[index].size() || !std::equal(frame.begin(), frame.end(), got[index].begin())) {
          contract_broken("a frame changed before its batch ended");
        }
      }
      in_batch.clear();
      reader.batch_ended();
    }
  }
  if (failed != oversized) contract_broken("an oversized length not refused, or refused when it was not");
  if (got != expected) contract_broken("frames differ from a plain reading of the stream");
  return 0;
}
