#include "backends/vhost_user/vhost_user_session.h"


#include <algorithm>
#include <string>
#include <utility>

#include "backends/nic/announce_frames.h"
#include "virtio/net_header.h"

namespace vnet::vhost_user {

namespace {

using virtio::kFVersion1;
using virtio::kNetFMq;
using virtio::kNetFMrgRxbuf;
using virtio::kRingFEventIdx;
using virtio::kRingFIndirectDesc;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// What the datapath does with frames. Transmit offloads are resolved by the
// back end (datapath/tx_offload.h): a guest hands over partial checksums and
// TCP frames of up to 64 KiB, the hub's peers get whole frames. Nothing is
// offloaded towards the guest (no GUEST_CSUM or GUEST_TSO*): the peers' frames
// are whole already.
constexpr uint64_t kNetFeatures = bit(kFVersion1) | bit(kNetFMrgRxbuf) | bit(kRingFEventIdx) |
                                  bit(kRingFIndirectDesc) | bit(VHOST_F_LOG_ALL) | bit(VHOST_USER_F_PROTOCOL_FEATURES) |
                                  bit(virtio::kNetFCsum) | bit(virtio::kNetFHostTso4) | bit(virtio::kNetFHostTso6) |
                                  bit(virtio::kNetFHostEcn);

constexpr uint64_t kProtocolFeatures = bit(VHOST_USER_PROTOCOL_F_MQ) | bit(VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
                                       bit(VHOST_USER_PROTOCOL_F_RARP) | bit(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                                       bit(VHOST_USER_PROTOCOL_F_MTU) |
                                       bit(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);

Error breach(const Message& m, const std::string& what) {
  return Error{EPROTO, request_name(m.request) + ": " + what};
}

Session::Outcome nothing() { return {}; }

}  // namespace

Session::Session(SessionLimits limits, SendFrame send_frame)
    : limits_(limits), send_frame_(std::move(send_frame)), memory_(std::make_unique<MemoryTable>()) {
  rings_.resize(2 * std::max<uint32_t>(limits_.queue_pairs, 1));
}

uint64_t Session::offered_features() const {
  return kNetFeatures | (limits_.queue_pairs > 1 ? bit(kNetFMq) : 0);
}

size_t Session::net_header_size() const {
  // virtio 1.2, 5.1.6: num_buffers is there with VERSION_1 or MRG_RXBUF.
  return feature(kFVersion1) || feature(kNetFMrgRxbuf) ? sizeof(virtio::NetHeader) : virtio::kNetHeaderLegacySize;
}

Result<Session::Outcome> Session::handle(Message message) {
  if (!message.known) return breach(message, "not a request this back end knows");
  Result<Outcome> outcome = nothing();
  switch (message.request) {
    case VHOST_USER_GET_FEATURES: outcome = get_features(message); break;
    case VHOST_USER_SET_FEATURES: outcome = set_features(message); break;
    case VHOST_USER_GET_PROTOCOL_FEATURES: outcome = get_protocol_features(message); break;
    case VHOST_USER_SET_PROTOCOL_FEATURES: outcome = set_protocol_features(message); break;
    case VHOST_USER_SET_OWNER: outcome = set_owner(message); break;
    case VHOST_USER_RESET_OWNER: outcome = reset_owner(message); break;
    case VHOST_USER_GET_QUEUE_NUM: outcome = get_queue_num(message); break;
    case VHOST_USER_SET_MEM_TABLE: outcome = set_mem_table(message); break;
    case VHOST_USER_ADD_MEM_REG: outcome = add_mem_reg(message); break;
    case VHOST_USER_REM_MEM_REG: outcome = rem_mem_reg(message); break;
    case VHOST_USER_GET_MAX_MEM_SLOTS: outcome = get_max_mem_slots(message); break;
    case VHOST_USER_SET_LOG_BASE: outcome = set_log_base(message); break;
    case VHOST_USER_SET_LOG_FD: outcome = set_log_fd(message); break;
    case VHOST_USER_SET_VRING_NUM: outcome = set_vring_num(message); break;
    case VHOST_USER_SET_VRING_ADDR: outcome = set_vring_addr(message); break;
    case VHOST_USER_SET_VRING_BASE: outcome = set_vring_base(message); break;
    case VHOST_USER_GET_VRING_BASE: outcome = get_vring_base(message); break;
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR: outcome = set_vring_file(message); break;
    case VHOST_USER_SET_VRING_ENABLE: outcome = set_vring_enable(message); break;
    case VHOST_USER_SEND_RARP: outcome = send_rarp(message); break;
    case VHOST_USER_NET_SET_MTU: outcome = net_set_mtu(message); break;
    default: return breach(message, "not offered by this back end");
  }
  if (!outcome) return outcome;
  // REPLY_ACK: a request that has no reply of its own is confirmed.
  bool acks = protocol_features_ & bit(VHOST_USER_PROTOCOL_F_REPLY_ACK);
  if (acks && message.need_reply() && outcome->reply.empty()) {
    outcome->reply = build_reply_ack(message.request, true);
  }
  return outcome;
}

Result<Session::Outcome> Session::get_features(const Message& m) {
  return Outcome{build_u64_reply(m.request, offered_features()), {}};
}

Result<Session::Outcome> Session::set_features(const Message& m) {
  auto value = decode_u64(m);
  if (!value) return value.take_error();
  if (*value & ~offered_features()) return breach(m, "features beyond those offered");
  features_ = *value;
  memory_->set_logging(feature(VHOST_F_LOG_ALL));
  // Without protocol features a ring runs as soon as it starts.
  Outcome outcome;
  for (uint32_t i = 0; i < rings_.size(); i++) {
    if (!feature(VHOST_USER_F_PROTOCOL_FEATURES) && rings_[i].started && !rings_[i].enabled) {
      rings_[i].enabled = true;
      outcome.rings_changed.push_back(i);
    }
  }
  return outcome;
}

Result<Session::Outcome> Session::get_protocol_features(const Message& m) {
  return Outcome{build_u64_reply(m.request, kProtocolFeatures), {}};
}

Result<Session::Outcome> Session::set_protocol_features(const Message& m) {
  auto value = decode_u64(m);
  if (!value) return value.take_error();
  if (*value & ~kProtocolFeatures) return breach(m, "protocol features beyond those offered");
  protocol_features_ = *value;
  return nothing();
}

Result<Session::Outcome> Session::set_owner(const Message&) { return nothing(); }

Result<Session::Outcome> Session::reset_owner(const Message&) {
  Outcome outcome;
  for (uint32_t i = 0; i < rings_.size(); i++) outcome.rings_changed.push_back(i);
  reset();
  return outcome;
}

void Session::reset() {
  for (auto& ring : rings_) ring = Ring{};
  features_ = 0;
  protocol_features_ = 0;
  memory_ = std::make_unique<MemoryTable>();
  log_fd_.reset();
  mtu_.reset();
}

Result<Session::Outcome> Session::get_queue_num(const Message& m) {
  return Outcome{build_u64_reply(m.request, limits_.queue_pairs), {}};
}

Result<Session::Outcome> Session::set_mem_table(Message& m) {
  auto regions = decode_memory_table(m);
  if (!regions) return regions.take_error();
  std::vector<RegionWithFd> with_fds;
  for (size_t i = 0; i < regions->size(); i++) with_fds.push_back({(*regions)[i], std::move(m.fds[i])});
  auto table = std::make_unique<MemoryTable>();
  table->set_logging(feature(VHOST_F_LOG_ALL));
  if (auto set = table->set_regions(std::move(with_fds)); !set) return set.take_error();
  table->adopt_log(*memory_);
  // The old mappings stay until every running queue has moved to the new.
  pages_logged_before_ += memory_->pages_logged();
  auto old = std::exchange(memory_, std::move(table));
  auto changed = remap_rings();
  if (!changed) return changed.take_error();
  return Outcome{{}, std::move(*changed)};
}

Result<Session::Outcome> Session::add_mem_reg(Message& m) {
  auto region = decode_single_region(m);
  if (!region) return region.take_error();
  if (auto added = memory_->add_region({*region, std::move(m.fds[0])}); !added) return added.take_error();
  return nothing();
}

Result<Session::Outcome> Session::rem_mem_reg(const Message& m) {
  auto region = decode_single_region(m);
  if (!region) return region.take_error();
  // A running ring's memory may not go from under it.
  for (const auto& ring : rings_) {
    if (ring.queue && ring.address) {
      uint64_t start = region->userspace_addr, end = start + region->memory_size;
      for (uint64_t addr : {ring.address->desc_user_addr, ring.address->avail_user_addr, ring.address->used_user_addr}) {
        if (addr >= start && addr < end) return breach(m, "removes the memory of a running ring");
      }
    }
  }
  if (auto removed = memory_->remove_region(*region); !removed) return removed.take_error();
  return nothing();
}

Result<Session::Outcome> Session::get_max_mem_slots(const Message& m) {
  return Outcome{build_u64_reply(m.request, MemoryTable::kMaxSlots), {}};
}

Result<Session::Outcome> Session::set_log_base(Message& m) {
  auto log = decode_log(m);
  if (!log) return log.take_error();
  if (auto set = memory_->set_log(std::move(m.fds[0]), log->mmap_size, log->mmap_offset); !set) {
    return set.take_error();
  }
  // With LOG_SHMFD the front end waits for a reply (a zero u64).
  return Outcome{build_u64_reply(m.request, 0), {}};
}

Result<Session::Outcome> Session::set_log_fd(Message& m) {
  log_fd_ = std::move(m.fds[0]);
  return nothing();
}

Result<Ring*> Session::ring_for(const Message& m, uint32_t index) {
  if (index >= rings_.size()) {
    return breach(m, "ring " + std::to_string(index) + " of " + std::to_string(rings_.size()));
  }
  return &rings_[index];
}

Result<Ring*> Session::stopped_ring(const Message& m, uint32_t index) {
  auto ring = ring_for(m, index);
  if (ring && (*ring)->started) return breach(m, "ring " + std::to_string(index) + " is started");
  return ring;
}

Result<Session::Outcome> Session::set_vring_num(const Message& m) {
  auto state = decode_vring_state(m);
  if (!state) return state.take_error();
  auto ring = stopped_ring(m, state->index);
  if (!ring) return ring.take_error();
  if (state->num == 0 || state->num > 32768 || (state->num & (state->num - 1))) {
    return breach(m, std::to_string(state->num) + " is not a power of two up to 32768");
  }
  (*ring)->num = static_cast<uint16_t>(state->num);
  return nothing();
}

Result<Session::Outcome> Session::set_vring_addr(const Message& m) {
  auto address = decode_vring_addr(m);
  if (!address) return address.take_error();
  auto ring = ring_for(m, address->index);
  if (!ring) return ring.take_error();
  (*ring)->address = *address;
  // QEMU sends it again on a running ring to turn used-ring logging on or off.
  if (!(*ring)->started) return nothing();
  if (auto started = start_queue(address->index); !started) return started.take_error();
  return Outcome{{}, {address->index}};
}

Result<Session::Outcome> Session::set_vring_base(const Message& m) {
  auto state = decode_vring_state(m);
  if (!state) return state.take_error();
  auto ring = stopped_ring(m, state->index);
  if (!ring) return ring.take_error();
  if (state->num > 0xffff) return breach(m, "base " + std::to_string(state->num) + " past 65535");
  (*ring)->base = static_cast<uint16_t>(state->num);
  return nothing();
}

Result<Session::Outcome> Session::get_vring_base(const Message& m) {
  auto state = decode_vring_state(m);
  if (!state) return state.take_error();
  auto ring = ring_for(m, state->index);
  if (!ring) return ring.take_error();
  Ring& r = **ring;
  // The ring stops, its used entries published first; where the device got
  // to is where a new start resumes.
  if (r.queue) r.queue->flush_used();
  uint16_t base = r.queue ? r.queue->last_avail_idx() : r.base;
  r.base = base;
  r.started = false;
  r.queue.reset();
  r.kick.reset();
  // With protocol features a ring restarts disabled, until SET_VRING_ENABLE.
  if (feature(VHOST_USER_F_PROTOCOL_FEATURES)) r.enabled = false;
  return Outcome{build_vring_state_reply(m.request, {state->index, base}), {state->index}};
}

Result<Session::Outcome> Session::set_vring_file(Message& m) {
  auto file = decode_vring_file(m);
  if (!file) return file.take_error();
  auto ring = ring_for(m, file->index);
  if (!ring) return ring.take_error();
  UniqueFd fd = file->has_fd ? std::move(m.fds[0]) : UniqueFd();
  if (m.request == VHOST_USER_SET_VRING_CALL) {
    (*ring)->call = std::move(fd);
    return nothing();
  }
  if (m.request == VHOST_USER_SET_VRING_ERR) {
    (*ring)->err = std::move(fd);
    return nothing();
  }
  // SET_VRING_KICK starts the ring; with no fd the device would have to poll.
  if (!fd) return breach(m, "no kick fd: this back end does not poll rings");
  (*ring)->kick = std::move(fd);
  if (auto started = start_queue(file->index); !started) return started.take_error();
  (*ring)->started = true;
  if (!feature(VHOST_USER_F_PROTOCOL_FEATURES)) (*ring)->enabled = true;
  return Outcome{{}, {file->index}};
}

Result<void> Session::start_queue(uint32_t index) {
  Ring& ring = rings_[index];
  std::string which = "ring " + std::to_string(index);
  if (!ring.address) return Error{EPROTO, which + " starts with no SET_VRING_ADDR"};
  if (ring.num == 0) return Error{EPROTO, which + " starts with no SET_VRING_NUM"};
  bool event_idx = feature(kRingFEventIdx);
  size_t n = ring.num;
  const VringAddress& a = *ring.address;
  virtio::QueueConfig config;
  config.num = ring.num;
  config.desc_table = memory_->translate_user_whole(a.desc_user_addr, 16 * n);
  config.avail_ring = memory_->translate_user_whole(a.avail_user_addr, 4 + 2 * n + (event_idx ? 2 : 0));
  config.used_ring = memory_->translate_user_whole(a.used_user_addr, 4 + 8 * n + (event_idx ? 2 : 0));
  if (config.desc_table.empty() || config.avail_ring.empty() || config.used_ring.empty()) {
    return Error{EPROTO, which + ": its descriptor table, available or used ring is not inside one memory region"};
  }
  if (a.flags & (1u << VHOST_VRING_F_LOG)) config.used_ring_log_gpa = a.log_guest_addr;
  // A running ring made again (new mappings, logging switched) carries on
  // where it was, its used entries published first.
  if (ring.queue) ring.queue->flush_used();
  config.last_avail_idx = ring.queue ? ring.queue->last_avail_idx() : ring.base;
  config.features = features_;
  auto queue = virtio::DeviceQueue::create(config, *memory_);
  if (!queue) return Error{queue.error().errnum, which + ": " + queue.error().message};
  ring.queue = std::move(*queue);
  return {};
}

Result<std::vector<uint32_t>> Session::remap_rings() {
  std::vector<uint32_t> changed;
  for (uint32_t i = 0; i < rings_.size(); i++) {
    if (!rings_[i].queue) continue;
    if (auto started = start_queue(i); !started) return started.take_error();
    changed.push_back(i);
  }
  return changed;
}

Result<Session::Outcome> Session::set_vring_enable(const Message& m) {
  auto state = decode_vring_state(m);
  if (!state) return state.take_error();
  auto ring = ring_for(m, state->index);
  if (!ring) return ring.take_error();
  if (state->num > 1) return breach(m, "enable is 0 or 1, not " + std::to_string(state->num));
  (*ring)->enabled = state->num == 1;
  return Outcome{{}, {state->index}};
}

Result<Session::Outcome> Session::send_rarp(const Message& m) {
  auto mac = decode_rarp_mac(m);
  if (!mac) return mac.take_error();
  // QEMU's own announce frame, as a migrated guest's NIC would send it.
  auto frame = nic::rarp_announce(*mac);
  if (send_frame_) send_frame_(frame);
  return nothing();
}

Result<Session::Outcome> Session::net_set_mtu(const Message& m) {
  auto mtu = decode_u64(m);
  if (!mtu) return mtu.take_error();
  // virtio-net's MTU field is 16 bits; 68 is IPv4's minimum.
  if (*mtu < 68 || *mtu > 65535) return breach(m, "MTU " + std::to_string(*mtu) + " outside 68..65535");
  mtu_ = *mtu;
  return nothing();
}

}  // namespace vnet::vhost_user
