// vhost-user protocol constants: the request numbers, header flags and
// payload layouts of QEMU's docs/interop/vhost-user.rst, defined once here.
// The kernel's uapi has no VHOST_USER_*; the layouts and bits vhost-user
// shares with the vhost ioctls are uapi's, but <linux/vhost_types.h> pulls in
// <linux/virtio_ring.h>, which is not valid C++: so they are restated here
// and uapi_layout_check.c, compiled as C, checks them against uapi.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vnet::vhost_user {

// Front-end requests (the spec's "Front-end message types", their ids).
enum Request : uint32_t {
  VHOST_USER_GET_FEATURES = 1,
  VHOST_USER_SET_FEATURES = 2,
  VHOST_USER_SET_OWNER = 3,
  VHOST_USER_RESET_OWNER = 4,
  VHOST_USER_SET_MEM_TABLE = 5,
  VHOST_USER_SET_LOG_BASE = 6,
  VHOST_USER_SET_LOG_FD = 7,
  VHOST_USER_SET_VRING_NUM = 8,
  VHOST_USER_SET_VRING_ADDR = 9,
  VHOST_USER_SET_VRING_BASE = 10,
  VHOST_USER_GET_VRING_BASE = 11,
  VHOST_USER_SET_VRING_KICK = 12,
  VHOST_USER_SET_VRING_CALL = 13,
  VHOST_USER_SET_VRING_ERR = 14,
  VHOST_USER_GET_PROTOCOL_FEATURES = 15,
  VHOST_USER_SET_PROTOCOL_FEATURES = 16,
  VHOST_USER_GET_QUEUE_NUM = 17,
  VHOST_USER_SET_VRING_ENABLE = 18,
  VHOST_USER_SEND_RARP = 19,
  VHOST_USER_NET_SET_MTU = 20,
  VHOST_USER_SET_BACKEND_REQ_FD = 21,  // the spec's older name: SET_SLAVE_REQ_FD
  VHOST_USER_GET_CONFIG = 24,
  VHOST_USER_SET_CONFIG = 25,
  VHOST_USER_RESET_DEVICE = 34,
  VHOST_USER_GET_MAX_MEM_SLOTS = 36,
  VHOST_USER_ADD_MEM_REG = 37,
  VHOST_USER_REM_MEM_REG = 38,
  VHOST_USER_SET_STATUS = 39,
  VHOST_USER_GET_STATUS = 40,
};

// Header flags: the version in bits 0-1, then REPLY (set on every back-end
// reply) and NEED_REPLY (REPLY_ACK: the front end wants a u64 status).
inline constexpr uint32_t VHOST_USER_VERSION_MASK = 0x3;
inline constexpr uint32_t VHOST_USER_VERSION = 0x1;
inline constexpr uint32_t VHOST_USER_REPLY_MASK = 0x1 << 2;
inline constexpr uint32_t VHOST_USER_NEED_REPLY_MASK = 0x1 << 3;

// SET_VRING_KICK/CALL/ERR's u64: the ring index in bits 0-7, bit 8 set when
// no fd rides along (the back end polls instead).
inline constexpr uint64_t VHOST_USER_VRING_IDX_MASK = 0xff;
inline constexpr uint64_t VHOST_USER_VRING_NOFD_MASK = 0x1 << 8;

// The feature bit that says GET/SET_PROTOCOL_FEATURES exist (a bit the
// virtio spec reserves, reused by vhost-user).
inline constexpr unsigned VHOST_USER_F_PROTOCOL_FEATURES = 30;

// Protocol feature bits (GET/SET_PROTOCOL_FEATURES).
inline constexpr unsigned VHOST_USER_PROTOCOL_F_MQ = 0;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_RARP = 2;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_REPLY_ACK = 3;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_MTU = 4;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_BACKEND_REQ = 5;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_CONFIG = 9;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_RESET_DEVICE = 13;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_STATUS = 16;

// uapi's VHOST_F_LOG_ALL: the front end logs dirty pages (live migration).
inline constexpr unsigned VHOST_F_LOG_ALL = 26;

// uapi's struct vhost_vring_state: SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE.
struct VringState {
  uint32_t index;
  uint32_t num;
};
static_assert(sizeof(VringState) == 8);

// uapi's struct vhost_vring_addr: SET_VRING_ADDR. The ring addresses are the
// front end's virtual addresses; log_guest_addr is guest-physical.
struct VringAddress {
  uint32_t index;
  uint32_t flags;  // VHOST_VRING_F_LOG: log writes to the used ring
  uint64_t desc_user_addr;
  uint64_t used_user_addr;
  uint64_t avail_user_addr;
  uint64_t log_guest_addr;
};
static_assert(sizeof(VringAddress) == 40 && offsetof(VringAddress, log_guest_addr) == 32);
inline constexpr uint32_t VHOST_VRING_F_LOG = 0;  // uapi's: a bit number

// The header: request, flags, size, each a native-endian u32.
inline constexpr size_t kHeaderSize = 12;

// SET_MEM_TABLE carries at most this many regions, each with its fd (QEMU's
// VHOST_MEMORY_BASELINE_NREGIONS); more need CONFIGURE_MEM_SLOTS.
inline constexpr uint32_t VHOST_MEMORY_BASELINE_NREGIONS = 8;
// A region on the wire: guest address, size, user address, mmap offset
// (uapi's vhost_memory_region, whose flags_padding vhost-user uses as the
// mmap offset).
inline constexpr size_t kRegionWireSize = 32;
// SET_MEM_TABLE's payload: nregions (u32), padding (u32), the regions.
inline constexpr size_t kMemoryTableHeaderSize = 8;
// ADD/REM_MEM_REG's payload: a u64 of padding, then one region.
inline constexpr size_t kSingleRegionWireSize = 8 + kRegionWireSize;
// SET_LOG_BASE's payload: mmap size (u64), mmap offset (u64).
inline constexpr size_t kLogWireSize = 16;
// GET/SET_CONFIG: offset, size, flags (u32 each), then size bytes of config
// space; QEMU's VHOST_USER_MAX_CONFIG_SIZE bounds size.
inline constexpr size_t kConfigHeaderSize = 12;
inline constexpr uint32_t VHOST_USER_MAX_CONFIG_SIZE = 256;

// The largest payload: QEMU's VhostUserMsg payload union, whose largest
// member is the config space (12 + 256) ahead of the memory table (8 + 8*32).
// A larger size in a header is refused before reading the payload.
inline constexpr size_t kMaxPayloadSize = kConfigHeaderSize + VHOST_USER_MAX_CONFIG_SIZE;
static_assert(kMaxPayloadSize >= kMemoryTableHeaderSize + VHOST_MEMORY_BASELINE_NREGIONS * kRegionWireSize);

// The most fds one message carries (SET_MEM_TABLE's, one per region).
inline constexpr size_t kMaxFdsPerMessage = VHOST_MEMORY_BASELINE_NREGIONS;

// The dirty log's page: one bit of the log per 4 KiB of guest-physical space.
inline constexpr uint64_t VHOST_LOG_PAGE = 0x1000;

// The request's name as the spec spells it without VHOST_USER_ ("SET_MEM_TABLE"),
// or "request <n>" for one this file does not know.
std::string request_name(uint32_t request);

}  // namespace vnet::vhost_user
