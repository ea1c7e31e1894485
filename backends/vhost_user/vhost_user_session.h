// Session - the back end's side of one vhost-user connection for a virtio-net
// device: the features, the memory table and every ring as the front end
// sets it up, starts, enables and stops it (docs/interop/vhost-user.rst,
// "Ring states"). Messages in, reply bytes out; the datapath asks it which
// rings run. It trusts nothing the front end sends: any breach is an Error
// naming it, and the owner closes the connection.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backends/vhost_user/memory_table.h"
#include "backends/vhost_user/vhost_user_message.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"
#include "virtio/device_queue.h"

namespace vnet::vhost_user {

// One ring's state. It runs (frames move) while started and enabled.
struct Ring {
  uint16_t num = 0;
  std::optional<VringAddress> address;
  uint16_t base = 0;  // SET_VRING_BASE: where the device resumes
  UniqueFd kick, call, err;
  bool started = false;  // a kick fd came (SET_VRING_KICK); GET_VRING_BASE stops it
  bool enabled = false;  // SET_VRING_ENABLE, or started without protocol features
  std::optional<virtio::DeviceQueue> queue;  // while started
  bool running() const { return started && enabled && queue.has_value(); }
};

struct SessionLimits {
  uint32_t queue_pairs = 1;
};

class Session {
 public:
  // A frame the front end asks the device to send (SEND_RARP's announce).
  using SendFrame = std::function<void(std::span<const uint8_t> frame)>;

  Session(SessionLimits limits, SendFrame send_frame);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  struct Outcome {
    std::vector<uint8_t> reply;  // bytes to send back, if any
    std::vector<uint32_t> rings_changed;  // rings whose running() may differ now
  };
  // One message from the front end. An Error leaves the session unusable:
  // the connection is to be closed.
  Result<Outcome> handle(Message message);

  uint64_t offered_features() const;
  uint64_t features() const { return features_; }
  uint64_t protocol_features() const { return protocol_features_; }
  bool feature(unsigned bit) const { return features_ >> bit & 1; }
  // The virtio-net header in front of every frame on the rings.
  size_t net_header_size() const;
  uint32_t ring_count() const { return static_cast<uint32_t>(rings_.size()); }
  Ring& ring(uint32_t index) { return rings_[index]; }
  const Ring& ring(uint32_t index) const { return rings_[index]; }
  MemoryTable& memory() { return *memory_; }
  std::optional<uint64_t> mtu() const { return mtu_; }
  // Pages marked in the dirty log over the session, whatever memory tables came and went.
  uint64_t pages_logged() const { return pages_logged_before_ + memory_->pages_logged(); }

 private:
  Result<Outcome> get_features(const Message& m);
  Result<Outcome> set_features(const Message& m);
  Result<Outcome> get_protocol_features(const Message& m);
  Result<Outcome> set_protocol_features(const Message& m);
  Result<Outcome> set_owner(const Message& m);
  Result<Outcome> reset_owner(const Message& m);
  Result<Outcome> get_queue_num(const Message& m);
  Result<Outcome> set_mem_table(Message& m);
  Result<Outcome> add_mem_reg(Message& m);
  Result<Outcome> rem_mem_reg(const Message& m);
  Result<Outcome> get_max_mem_slots(const Message& m);
  Result<Outcome> set_log_base(Message& m);
  Result<Outcome> set_log_fd(Message& m);
  Result<Outcome> set_vring_num(const Message& m);
  Result<Outcome> set_vring_addr(const Message& m);
  Result<Outcome> set_vring_base(const Message& m);
  Result<Outcome> get_vring_base(const Message& m);
  Result<Outcome> set_vring_file(Message& m);
  Result<Outcome> set_vring_enable(const Message& m);
  Result<Outcome> send_rarp(const Message& m);
  Result<Outcome> net_set_mtu(const Message& m);

  Result<Ring*> ring_for(const Message& m, uint32_t index);
  // The ring a SET_VRING_NUM or SET_VRING_BASE names: it must be stopped.
  Result<Ring*> stopped_ring(const Message& m, uint32_t index);
  Result<void> start_queue(uint32_t index);
  // The memory table changed: running rings' queues are made again over the
  // new mappings, where they were.
  Result<std::vector<uint32_t>> remap_rings();
  void reset();

  SessionLimits limits_;
  SendFrame send_frame_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  std::unique_ptr<MemoryTable> memory_;
  std::vector<Ring> rings_;
  UniqueFd log_fd_;
  std::optional<uint64_t> mtu_;
  uint64_t pages_logged_before_ = 0;  // by memory tables since replaced
};

}  // namespace vnet::vhost_user
