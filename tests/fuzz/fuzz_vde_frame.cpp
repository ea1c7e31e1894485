// The vde netdev's check of what it reads from the switch: a frame for the
// peer (Ethernet header to VDE_ETHBUFSIZE bytes), a runt or an oversized
// datagram. Input: datagrams, each behind a 2-byte little-endian length,
// read into a receive buffer as VdeBackend's (VDE_ETHBUFSIZE + 1 bytes).
#include <net/ethernet.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" {
#include <libvdeplug.h>
}

#include "backends/vde/vde_backend.h"
#include "tests/fuzz/fake_daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vnet::fuzz::contract_broken;
  using vnet::vde::Verdict;
  std::vector<uint8_t> buffer(VDE_ETHBUFSIZE + 1);
  while (size >= 2) {
    size_t length = data[0] | size_t{data[1]} << 8;
    data += 2;
    size -= 2;
    // vde_recv() fills at most the buffer; the length it returns says what the datagram was.
    size_t copied = std::min({length, size, buffer.size()});
    std::memcpy(buffer.data(), data, copied);
    data += copied;
    size -= copied;
    auto received = vnet::vde::decode_datagram(buffer, length);
    bool frame = length >= ETH_HLEN && length <= VDE_ETHBUFSIZE;
    if ((received.verdict == Verdict::frame) != frame) contract_broken("a wrong verdict");
    if (frame && (received.frame.data() != buffer.data() || received.frame.size() != length)) {
      contract_broken("a frame that is not the datagram");
    }
    if (!frame && !received.frame.empty()) contract_broken("a dropped datagram with a frame");
  }
  return 0;
}
