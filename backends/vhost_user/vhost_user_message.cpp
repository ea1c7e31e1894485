#include "backends/vhost_user/vhost_user_message.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace vnet::vhost_user {
namespace {

// What a request's payload is (the spec's "request payload").
enum class Payload { none, u64, vring_state, vring_addr, vring_file, memory_table, single_region, log, config };
// How many fds ride with it.
enum class Fds {
  none,
  one,
  per_region,     // SET_MEM_TABLE: one per region, in order
  unless_nofd,    // SET_VRING_KICK/CALL/ERR: one exactly when NOFD is clear
  closed_if_any,  // REM_MEM_REG: none SHOULD come; one MAY, and MUST be closed unused
};

struct Rule {
  uint32_t request;
  const char* name;
  Payload payload;
  Fds fds;
};

// The requests this back end understands: the list of what is supported.
constexpr Rule kRules[] = {
    {VHOST_USER_GET_FEATURES, "GET_FEATURES", Payload::none, Fds::none},
    {VHOST_USER_SET_FEATURES, "SET_FEATURES", Payload::u64, Fds::none},
    {VHOST_USER_SET_OWNER, "SET_OWNER", Payload::none, Fds::none},
    {VHOST_USER_RESET_OWNER, "RESET_OWNER", Payload::none, Fds::none},
    {VHOST_USER_SET_MEM_TABLE, "SET_MEM_TABLE", Payload::memory_table, Fds::per_region},
    {VHOST_USER_SET_LOG_BASE, "SET_LOG_BASE", Payload::log, Fds::one},
    {VHOST_USER_SET_LOG_FD, "SET_LOG_FD", Payload::none, Fds::one},
    {VHOST_USER_SET_VRING_NUM, "SET_VRING_NUM", Payload::vring_state, Fds::none},
    {VHOST_USER_SET_VRING_ADDR, "SET_VRING_ADDR", Payload::vring_addr, Fds::none},
    {VHOST_USER_SET_VRING_BASE, "SET_VRING_BASE", Payload::vring_state, Fds::none},
    {VHOST_USER_GET_VRING_BASE, "GET_VRING_BASE", Payload::vring_state, Fds::none},
    {VHOST_USER_SET_VRING_KICK, "SET_VRING_KICK", Payload::vring_file, Fds::unless_nofd},
    {VHOST_USER_SET_VRING_CALL, "SET_VRING_CALL", Payload::vring_file, Fds::unless_nofd},
    {VHOST_USER_SET_VRING_ERR, "SET_VRING_ERR", Payload::vring_file, Fds::unless_nofd},
    {VHOST_USER_GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES", Payload::none, Fds::none},
    {VHOST_USER_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES", Payload::u64, Fds::none},
    {VHOST_USER_GET_QUEUE_NUM, "GET_QUEUE_NUM", Payload::none, Fds::none},
    {VHOST_USER_SET_VRING_ENABLE, "SET_VRING_ENABLE", Payload::vring_state, Fds::none},
    {VHOST_USER_SEND_RARP, "SEND_RARP", Payload::u64, Fds::none},
    {VHOST_USER_NET_SET_MTU, "NET_SET_MTU", Payload::u64, Fds::none},
    {VHOST_USER_SET_BACKEND_REQ_FD, "SET_BACKEND_REQ_FD", Payload::none, Fds::one},
    {VHOST_USER_GET_CONFIG, "GET_CONFIG", Payload::config, Fds::none},
    {VHOST_USER_SET_CONFIG, "SET_CONFIG", Payload::config, Fds::none},
    {VHOST_USER_RESET_DEVICE, "RESET_DEVICE", Payload::none, Fds::none},
    {VHOST_USER_GET_MAX_MEM_SLOTS, "GET_MAX_MEM_SLOTS", Payload::none, Fds::none},
    {VHOST_USER_ADD_MEM_REG, "ADD_MEM_REG", Payload::single_region, Fds::one},
    {VHOST_USER_REM_MEM_REG, "REM_MEM_REG", Payload::single_region, Fds::closed_if_any},
    {VHOST_USER_SET_STATUS, "SET_STATUS", Payload::u64, Fds::none},
    {VHOST_USER_GET_STATUS, "GET_STATUS", Payload::none, Fds::none},
};

const Rule* find_rule(uint32_t request) {
  for (const Rule& rule : kRules) {
    if (rule.request == request) return &rule;
  }
  return nullptr;
}

template <typename T>
T load(std::span<const uint8_t> bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
  size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The payload size a request must have; SIZE_MAX for the two whose size
// follows from a field (checked in check_payload).
size_t fixed_payload_size(Payload payload) {
  switch (payload) {
    case Payload::none: return 0;
    case Payload::u64:
    case Payload::vring_file: return sizeof(uint64_t);
    case Payload::vring_state: return sizeof(VringState);
    case Payload::vring_addr: return sizeof(VringAddress);
    case Payload::single_region: return kSingleRegionWireSize;
    case Payload::log: return kLogWireSize;
    case Payload::memory_table:
    case Payload::config: break;
  }
  return SIZE_MAX;
}

// Checks the payload; returns how many fds it calls for.
Result<size_t> check_payload(const Rule& rule, std::span<const uint8_t> payload) {
  const std::string name = rule.name;
  size_t fixed = fixed_payload_size(rule.payload);
  if (fixed != SIZE_MAX && payload.size() != fixed) {
    return Error::plain(name + ": payload of " + plural(payload.size(), "byte", "bytes") + ", expected " +
                        std::to_string(fixed));
  }
  switch (rule.payload) {
    case Payload::memory_table: {
      if (payload.size() < kMemoryTableHeaderSize) {
        return Error::plain(name + ": payload of " + plural(payload.size(), "byte", "bytes") +
                            ", shorter than the region count");
      }
      uint32_t nregions = load<uint32_t>(payload, 0);
      if (nregions < 1 || nregions > VHOST_MEMORY_BASELINE_NREGIONS) {
        return Error::plain(name + ": " + plural(nregions, "region", "regions") + ", expected 1 to " +
                            std::to_string(VHOST_MEMORY_BASELINE_NREGIONS));
      }
      size_t expected = kMemoryTableHeaderSize + nregions * kRegionWireSize;
      if (payload.size() != expected) {
        return Error::plain(name + ": payload of " + plural(payload.size(), "byte", "bytes") + " for " +
                            plural(nregions, "region", "regions") + ", expected " + std::to_string(expected));
      }
      return size_t{nregions};
    }
    case Payload::config: {
      if (payload.size() < kConfigHeaderSize) {
        return Error::plain(name + ": payload of " + plural(payload.size(), "byte", "bytes") +
                            ", shorter than the config header");
      }
      uint32_t offset = load<uint32_t>(payload, 0), size = load<uint32_t>(payload, 4);
      if (uint64_t{offset} + size > VHOST_USER_MAX_CONFIG_SIZE) {
        return Error::plain(name + ": config window at " + std::to_string(offset) + " of " +
                            std::to_string(size) + " bytes, beyond " +
                            std::to_string(VHOST_USER_MAX_CONFIG_SIZE));
      }
      if (payload.size() != kConfigHeaderSize + size) {
        return Error::plain(name + ": payload of " + plural(payload.size(), "byte", "bytes") + " for a config of " +
                            std::to_string(size) + ", expected " + std::to_string(kConfigHeaderSize + size));
      }
      return size_t{0};
    }
    case Payload::vring_file: {
      uint64_t value = load<uint64_t>(payload, 0);
      if (value & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
        return Error::plain(name + ": bits beyond the index and NOFD set in " + std::to_string(value));
      }
      return size_t{(value & VHOST_USER_VRING_NOFD_MASK) ? 0u : 1u};
    }
    default: break;
  }
  switch (rule.fds) {
    case Fds::one: return size_t{1};
    case Fds::closed_if_any: return SIZE_MAX;  // any of 0 or 1
    default: return size_t{0};
  }
}

}  // namespace

std::string request_name(uint32_t request) {
  const Rule* rule = find_rule(request);
  return rule ? rule->name : "request " + std::to_string(request);
}

Header decode_header(std::span<const uint8_t, kHeaderSize> bytes) {
  return Header{load<uint32_t>(bytes, 0), load<uint32_t>(bytes, 4), load<uint32_t>(bytes, 8)};
}

Result<void> check_header(const Header& header) {
  const std::string name = request_name(header.request);
  if ((header.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
    return Error::plain(name + ": protocol version " + std::to_string(header.flags & VHOST_USER_VERSION_MASK) +
                        ", expected " + std::to_string(VHOST_USER_VERSION));
  }
  if (header.size > kMaxPayloadSize) {
    return Error::plain(name + ": payload of " + std::to_string(header.size) + " bytes, more than the " +
                        std::to_string(kMaxPayloadSize) + " any request has");
  }
  return {};
}

Result<Message> parse_message(const Header& header, std::vector<uint8_t> payload, std::vector<UniqueFd> fds) {
  if (auto ok = check_header(header); !ok) return ok.take_error();
  const std::string name = request_name(header.request);
  if (payload.size() != header.size) {
    return Error::plain(name + ": " + std::to_string(payload.size()) + " payload bytes, the header says " +
                        std::to_string(header.size));
  }
  if (fds.size() > kMaxFdsPerMessage) {
    return Error::plain(name + ": " + std::to_string(fds.size()) + " fds, more than any request carries");
  }
  Message message{header.request, header.flags, std::move(payload), {}, true};
  const Rule* rule = find_rule(header.request);
  if (!rule) {
    message.known = false;  // fds close here, with the vector
    return message;
  }
  Result<size_t> wanted = check_payload(*rule, message.payload);
  if (!wanted) return wanted.take_error();
  if (*wanted == SIZE_MAX) {  // REM_MEM_REG: close what came, unused
    if (fds.size() > 1) return Error::plain(name + ": " + std::to_string(fds.size()) + " fds, expected at most 1");
    return message;
  }
  if (fds.size() != *wanted) {
    if (rule->payload == Payload::memory_table) {
      return Error::plain(name + ": " + plural(*wanted, "region", "regions") + " but " +
                          plural(fds.size(), "fd", "fds"));
    }
    if (rule->payload == Payload::vring_file) {
      return Error::plain(name + (*wanted ? ": NOFD clear but no fd came" : ": NOFD set but an fd came"));
    }
    return Error::plain(name + ": " + plural(fds.size(), "fd", "fds") + ", expected " +
                        (*wanted ? std::to_string(*wanted) : std::string("none")));
  }
  message.fds = std::move(fds);
  return message;
}

// --- Decoders.

namespace {

Result<void> expect_size(const Message& message, size_t size) {
  if (message.payload.size() == size) return {};
  return Error::plain(request_name(message.request) + ": payload of " + std::to_string(message.payload.size()) +
                      " bytes, expected " + std::to_string(size));
}

RegionDescription load_region(std::span<const uint8_t> bytes, size_t at) {
  return RegionDescription{load<uint64_t>(bytes, at), load<uint64_t>(bytes, at + 8), load<uint64_t>(bytes, at + 16),
                           load<uint64_t>(bytes, at + 24)};
}

void append_region(std::vector<uint8_t>& out, const RegionDescription& region) {
  append(out, region.guest_phys_addr);
  append(out, region.memory_size);
  append(out, region.userspace_addr);
  append(out, region.mmap_offset);
}

}  // namespace

Result<uint64_t> decode_u64(const Message& message) {
  if (auto ok = expect_size(message, sizeof(uint64_t)); !ok) return ok.take_error();
  return load<uint64_t>(message.payload, 0);
}

Result<VringState> decode_vring_state(const Message& message) {
  if (auto ok = expect_size(message, sizeof(VringState)); !ok) return ok.take_error();
  return load<VringState>(message.payload, 0);
}

Result<VringAddress> decode_vring_addr(const Message& message) {
  if (auto ok = expect_size(message, sizeof(VringAddress)); !ok) return ok.take_error();
  return load<VringAddress>(message.payload, 0);
}

Result<VringFile> decode_vring_file(const Message& message) {
  Result<uint64_t> value = decode_u64(message);
  if (!value) return value.take_error();
  return VringFile{static_cast<uint32_t>(*value & VHOST_USER_VRING_IDX_MASK),
                   (*value & VHOST_USER_VRING_NOFD_MASK) == 0};
}

Result<std::vector<RegionDescription>> decode_memory_table(const Message& message) {
  const auto& bytes = message.payload;
  if (bytes.size() < kMemoryTableHeaderSize) return expect_size(message, kMemoryTableHeaderSize).take_error();
  uint32_t nregions = load<uint32_t>(bytes, 0);
  if (nregions > VHOST_MEMORY_BASELINE_NREGIONS) {
    return Error::plain(request_name(message.request) + ": " + std::to_string(nregions) + " regions, at most " +
                        std::to_string(VHOST_MEMORY_BASELINE_NREGIONS));
  }
  size_t size = kMemoryTableHeaderSize + nregions * kRegionWireSize;
  if (auto ok = expect_size(message, size); !ok) return ok.take_error();
  std::vector<RegionDescription> regions;
  for (uint32_t i = 0; i < nregions; i++) {
    regions.push_back(load_region(bytes, kMemoryTableHeaderSize + i * kRegionWireSize));
  }
  return regions;
}

Result<RegionDescription> decode_single_region(const Message& message) {
  if (auto ok = expect_size(message, kSingleRegionWireSize); !ok) return ok.take_error();
  return load_region(message.payload, 8);
}

Result<LogDescription> decode_log(const Message& message) {
  if (auto ok = expect_size(message, kLogWireSize); !ok) return ok.take_error();
  return LogDescription{load<uint64_t>(message.payload, 0), load<uint64_t>(message.payload, 8)};
}

Result<ConfigSpace> decode_config(const Message& message) {
  const auto& bytes = message.payload;
  if (bytes.size() < kConfigHeaderSize) return expect_size(message, kConfigHeaderSize).take_error();
  uint32_t size = load<uint32_t>(bytes, 4);
  if (size > VHOST_USER_MAX_CONFIG_SIZE) {
    return Error::plain(request_name(message.request) + ": config of " + std::to_string(size) + " bytes, at most " +
                        std::to_string(VHOST_USER_MAX_CONFIG_SIZE));
  }
  if (auto ok = expect_size(message, kConfigHeaderSize + size); !ok) return ok.take_error();
  ConfigSpace config{load<uint32_t>(bytes, 0), load<uint32_t>(bytes, 8), {}};
  config.bytes.assign(bytes.begin() + kConfigHeaderSize, bytes.end());
  return config;
}

Result<std::array<uint8_t, 6>> decode_rarp_mac(const Message& message) {
  if (auto ok = expect_size(message, sizeof(uint64_t)); !ok) return ok.take_error();
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), message.payload.data(), mac.size());
  return mac;
}

// --- Encoders.

std::vector<uint8_t> encode_message(uint32_t request, uint32_t flags, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + payload.size());
  append(out, request);
  append(out, (flags & ~VHOST_USER_VERSION_MASK) | VHOST_USER_VERSION);
  append(out, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> encode_u64(uint64_t value) {
  std::vector<uint8_t> out;
  append(out, value);
  return out;
}

std::vector<uint8_t> encode_vring_state(const VringState& state) {
  std::vector<uint8_t> out;
  append(out, state);
  return out;
}

std::vector<uint8_t> encode_vring_addr(const VringAddress& addr) {
  std::vector<uint8_t> out;
  append(out, addr);
  return out;
}

std::vector<uint8_t> encode_memory_table(std::span<const RegionDescription> regions) {
  std::vector<uint8_t> out;
  append(out, static_cast<uint32_t>(regions.size()));
  append(out, uint32_t{0});  // padding
  for (const RegionDescription& region : regions) append_region(out, region);
  return out;
}

std::vector<uint8_t> encode_single_region(const RegionDescription& region) {
  std::vector<uint8_t> out;
  append(out, uint64_t{0});  // padding
  append_region(out, region);
  return out;
}

std::vector<uint8_t> encode_log(const LogDescription& log) {
  std::vector<uint8_t> out;
  append(out, log.mmap_size);
  append(out, log.mmap_offset);
  return out;
}

std::vector<uint8_t> encode_config(const ConfigSpace& config) {
  std::vector<uint8_t> out;
  append(out, config.offset);
  append(out, static_cast<uint32_t>(config.bytes.size()));
  append(out, config.flags);
  out.insert(out.end(), config.bytes.begin(), config.bytes.end());
  return out;
}

std::vector<uint8_t> build_u64_reply(uint32_t request, uint64_t value) {
  return encode_message(request, VHOST_USER_REPLY_MASK, encode_u64(value));
}

std::vector<uint8_t> build_vring_state_reply(uint32_t request, const VringState& state) {
  return encode_message(request, VHOST_USER_REPLY_MASK, encode_vring_state(state));
}

std::vector<uint8_t> build_config_reply(const ConfigSpace& config) {
  return encode_message(VHOST_USER_GET_CONFIG, VHOST_USER_REPLY_MASK, encode_config(config));
}

std::vector<uint8_t> build_reply_ack(uint32_t request, bool success) {
  return build_u64_reply(request, success ? 0 : 1);
}

}  // namespace vnet::vhost_user
