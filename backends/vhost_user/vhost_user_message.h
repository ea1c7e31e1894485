// vhost-user messages: the Message value a framer hands out, the per-request
// checks of payload size and fd count (QEMU's docs/interop/vhost-user.rst),
// typed decoders for the payloads and builders for the bytes the back end
// sends (replies) or a test sends (requests).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "backends/vhost_user/vhost_user_protocol.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::vhost_user {

struct Header {
  uint32_t request = 0;
  uint32_t flags = 0;
  uint32_t size = 0;  // of the payload
};

// Reads the header from the first kHeaderSize bytes (memcpy: no alignment
// assumed).
Header decode_header(std::span<const uint8_t, kHeaderSize> bytes);
// What makes a stream unreadable from this header on: a version other than
// 1, or a payload larger than kMaxPayloadSize.
Result<void> check_header(const Header& header);

struct Message {
  uint32_t request = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> payload;
  std::vector<UniqueFd> fds;  // as received, in order; owned
  // False for a request the table does not know: its payload is kept (so
  // the caller can refuse it by name), its fds were closed.
  bool known = true;

  bool need_reply() const { return flags & VHOST_USER_NEED_REPLY_MASK; }
};

// Checks a framed message against its request's rules (payload size, number
// of fds, fields the size depends on) and returns it as a Message. The
// Error names the request and the fault ("SET_MEM_TABLE: 3 regions but 2
// fds"); every fd is closed then. An unknown request is returned with its
// fds closed and known = false. REM_MEM_REG's optional fd is closed, as the
// spec demands.
Result<Message> parse_message(const Header& header, std::vector<uint8_t> payload, std::vector<UniqueFd> fds);

// --- Payloads. The decoders check the payload's size themselves, so they
// are safe on any Message, parsed or not.

Result<uint64_t> decode_u64(const Message& message);

// SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE: uapi's vhost_vring_state.
Result<VringState> decode_vring_state(const Message& message);

// SET_VRING_ADDR: uapi's vhost_vring_addr (front-end virtual addresses,
// except log_guest_addr, a guest-physical one).
Result<VringAddress> decode_vring_addr(const Message& message);

// SET_VRING_KICK/CALL/ERR.
struct VringFile {
  uint32_t index = 0;
  bool has_fd = false;  // NOFD clear: the message's one fd is the eventfd
};
Result<VringFile> decode_vring_file(const Message& message);

// One region of SET_MEM_TABLE or ADD/REM_MEM_REG.
struct RegionDescription {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;  // where the front end has it mapped
  uint64_t mmap_offset = 0;     // where the region starts in its fd
  bool operator==(const RegionDescription&) const = default;
};
Result<std::vector<RegionDescription>> decode_memory_table(const Message& message);
Result<RegionDescription> decode_single_region(const Message& message);

// SET_LOG_BASE.
struct LogDescription {
  uint64_t mmap_size = 0;
  uint64_t mmap_offset = 0;
};
Result<LogDescription> decode_log(const Message& message);

// GET_CONFIG/SET_CONFIG: a window of the device's config space.
struct ConfigSpace {
  uint32_t offset = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> bytes;  // size = the header's size field
};
Result<ConfigSpace> decode_config(const Message& message);

// SEND_RARP: the guest's MAC, the u64's first 6 bytes in memory order.
Result<std::array<uint8_t, 6>> decode_rarp_mac(const Message& message);

// --- Bytes to send: a header (version 1 plus the given flags) and payload.

std::vector<uint8_t> encode_message(uint32_t request, uint32_t flags, std::span<const uint8_t> payload);

// Replies carry REPLY and the request they answer.
std::vector<uint8_t> build_u64_reply(uint32_t request, uint64_t value);
std::vector<uint8_t> build_vring_state_reply(uint32_t request, const VringState& state);
// GET_CONFIG's reply; QEMU reads an empty config (size 0) as a failure.
std::vector<uint8_t> build_config_reply(const ConfigSpace& config);
// REPLY_ACK: 0 for success, non-zero for failure, to a NEED_REPLY request.
std::vector<uint8_t> build_reply_ack(uint32_t request, bool success);

// Request payloads (what a front end sends; tests and fuzz seeds use them).
std::vector<uint8_t> encode_u64(uint64_t value);
std::vector<uint8_t> encode_vring_state(const VringState& state);
std::vector<uint8_t> encode_vring_addr(const VringAddress& addr);
std::vector<uint8_t> encode_memory_table(std::span<const RegionDescription> regions);
std::vector<uint8_t> encode_single_region(const RegionDescription& region);
std::vector<uint8_t> encode_log(const LogDescription& log);
std::vector<uint8_t> encode_config(const ConfigSpace& config);

}  // namespace vnet::vhost_user
