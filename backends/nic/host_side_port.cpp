#include "backends/nic/host_side_port.h"

#include <array>
#include <cstring>

#include "backends/datapath/tx_offload.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/packet_socket.h"
#include "virtio/net_header.h"

namespace vnet::nic {

namespace {

// A guest's burst: the socket holds it until the next batch reads it.
constexpr int kReceiveBuffer = 4 << 20;
constexpr size_t kMacAddresses = 12;
constexpr size_t kVlanTagSize = 4;

}  // namespace

Result<std::unique_ptr<HostSidePort>> HostSidePort::open(datapath::FrameLoop& loop, int ifindex, Deliver deliver) {
  auto socket = packet::open_host_side(ifindex, kReceiveBuffer);
  if (!socket) return socket.take_error();
  std::unique_ptr<HostSidePort> port(new HostSidePort(loop, std::move(*socket), ifindex, std::move(deliver)));
  HostSidePort* raw = port.get();
  auto receiver = loop.add_packet_receiver(raw->socket_.get(), [raw](const auto& packet) { raw->received(packet); });
  if (!receiver) return receiver.take_error();
  port->receiver_ = *receiver;
  return port;
}

HostSidePort::~HostSidePort() {
  loop_.remove_receiver(receiver_);
  loop_.forget_flush(*this);
}

void HostSidePort::received(const datapath::FrameLoop::Packet& packet) {
  constexpr size_t header_size = packet::kVnetHeaderSize;
  std::span<uint8_t> data = packet.data;
  if (data.size() < header_size + kMacAddresses) {
    drops_short_++;
    return;
  }
  virtio::NetHeader header{};
  std::memcpy(&header, data.data(), header_size);
  if (packet.vlan && packet.headroom >= kVlanTagSize) {
    // The tag goes back where the guest put it (the kernel moved it into
    // the skb): the header and MAC addresses move 4 bytes towards the
    // headroom, and the checksum's start moves with the frame.
    std::memmove(data.data() - kVlanTagSize, data.data(), header_size + kMacAddresses);
    data = {data.data() - kVlanTagSize, data.size() + kVlanTagSize};
    uint8_t* tag = data.data() + header_size + kMacAddresses;
    tag[0] = static_cast<uint8_t>(packet.vlan->tpid >> 8);
    tag[1] = static_cast<uint8_t>(packet.vlan->tpid);
    tag[2] = static_cast<uint8_t>(packet.vlan->tci >> 8);
    tag[3] = static_cast<uint8_t>(packet.vlan->tci);
    if (header.flags & virtio::kNetHdrFNeedsCsum) header.csum_start = static_cast<uint16_t>(header.csum_start + kVlanTagSize);
  }
  std::span<uint8_t> frame = data.subspan(header_size);
  from_guest_++;
  // DATA_VALID only says the kernel trusts the checksum: nothing to do.
  datapath::TxOffload offload{static_cast<uint8_t>(header.flags & virtio::kNetHdrFNeedsCsum), header.gso_type,
                              header.gso_size, header.csum_start, header.csum_offset};
  if (offload.flags == 0 && offload.gso_type == virtio::kNetHdrGsoNone) return deliver_(frame);
  const bool segmented = offload.gso_type != virtio::kNetHdrGsoNone;
  std::string refused = datapath::resolve_tx_offload(
      offload, frame,
      {[this](size_t size) {
         loop_.defer_release(*this);  // the segments live until every peer has sent them
         return segments_.take(size);
       },
       [this](std::span<const uint8_t> out) { deliver_(out); }});
  if (!refused.empty()) {
    drops_bad_offload_++;
    if (last_offload_error_.empty()) {
      log::warning("ifindex " + std::to_string(ifindex_) + ": a guest frame's offload refused: " + refused);
    }
    last_offload_error_ = refused;
    return;
  }
  segmented ? segmented_++ : checksums_completed_++;
}

void HostSidePort::send_to_guest(std::span<const uint8_t> frame) {
  // A header asking for nothing: the frame is whole, its checksums done.
  static constexpr std::array<uint8_t, packet::kVnetHeaderSize> kNoOffload{};
  sender_.send(kNoOffload, frame, nullptr, 0);
}

std::map<std::string, int64_t> HostSidePort::counters() const {
  return {{"frames-from-guest", static_cast<int64_t>(from_guest_)},
          {"frames-to-guest", static_cast<int64_t>(sender_.counters().frames)},
          {"frames-segmented", static_cast<int64_t>(segmented_)},
          {"checksums-completed", static_cast<int64_t>(checksums_completed_)},
          {"drops-bad-offload", static_cast<int64_t>(drops_bad_offload_)},
          {"drops-short", static_cast<int64_t>(drops_short_)},
          {"drops-send-error", static_cast<int64_t>(sender_.counters().drops_error)}};
}

}  // namespace vnet::nic
