// What a guest's virtio-net header asks on transmit (backends/datapath/
// tx_offload.h), against any header and frame. Input: the header's fields
// (flags, gso_type, gso_size, csum_start, csum_offset; 8 bytes) then the
// frame. Whatever the input: nothing is read or written outside the frame
// or a segment's buffer (ASan); a refused frame emits nothing; a segmented
// one emits at most 1,024 segments whose payloads, in order, are the
// frame's, each no longer than gso_size, behind the frame's own headers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backends/datapath/tx_offload.h"
#include "tests/fuzz/fake_daemon.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vnet::datapath;
  using vnet::fuzz::contract_broken;
  using vnet::fuzz::Input;
  Input in{data, size};
  TxOffload offload;
  offload.flags = in.take<uint8_t>();
  offload.gso_type = in.take<uint8_t>();
  offload.gso_size = in.take<uint16_t>();
  offload.csum_start = in.take<uint16_t>();
  offload.csum_offset = in.take<uint16_t>();
  // A heap copy of exactly the frame's size, so that ASan sees its end.
  std::unique_ptr<uint8_t[]> frame_copy(new uint8_t[in.size + 1]);
  std::memcpy(frame_copy.get(), in.data, in.size);
  std::span<uint8_t> frame(frame_copy.get(), in.size);
  const std::vector<uint8_t> original(in.data, in.data + in.size);

  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  std::vector<std::vector<uint8_t>> emitted;
  SegmentSink sink{[&](size_t n) {
                     buffers.emplace_back(new uint8_t[n]);
                     return std::span<uint8_t>(buffers.back().get(), n);
                   },
                   [&](std::span<const uint8_t> out) { emitted.emplace_back(out.begin(), out.end()); }};
  std::string refused = resolve_tx_offload(offload, frame, sink);
  if (!refused.empty()) {
    if (!emitted.empty()) contract_broken("a refused frame emitted " + std::to_string(emitted.size()) + " frames");
    return 0;
  }
  const uint8_t gso = offload.gso_type & ~kNetHdrGsoEcn;
  if (gso == 0) {
    if (emitted.size() != 1 || emitted[0].size() != original.size()) contract_broken("not the one frame back");
    return 0;
  }
  if (emitted.empty() || emitted.size() > 1024) contract_broken(std::to_string(emitted.size()) + " segments");
  // n segments each repeat the frame's headers: their sizes add up to the
  // frame's plus (n - 1) headers' worth.
  size_t total = 0;
  for (const auto& segment : emitted) total += segment.size();
  if (emitted.size() == 1) {
    if (total != original.size()) contract_broken("one segment, not the frame's size");
    return 0;
  }
  if (total < original.size() || (total - original.size()) % (emitted.size() - 1) != 0) {
    contract_broken("segment sizes that do not add up to the frame's");
  }
  const size_t headers = (total - original.size()) / (emitted.size() - 1);
  std::vector<uint8_t> payload;
  for (const auto& segment : emitted) {
    if (segment.size() < headers || segment.size() - headers > offload.gso_size) {
      contract_broken("a segment of " + std::to_string(segment.size()) + " bytes");
    }
    payload.insert(payload.end(), segment.begin() + headers, segment.end());
  }
  if (headers > original.size() || payload != std::vector<uint8_t>(original.begin() + headers, original.end())) {
    contract_broken("the segments' payloads are not the frame's");
  }
  return 0;
}
