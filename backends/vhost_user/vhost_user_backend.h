// VhostUserBackend - the vhost-user netdev: vnetd is the back end (the device
// side of a virtio-net) on a UNIX socket a VMM connects to as the front end
// (QEMU's -netdev vhost-user, cloud-hypervisor's vhost_user=true). One front
// end at a time; its messages go to a Session, and the rings it runs move
// frames between the guest's memory and the netdev's peer on the frame loop:
//   guest TX: a kick -> every available chain, its frame copied out once and
//     handed to the peer -> used, one call per batch;
//   guest RX: a frame from the peer is copied once into the guest's buffers
//     (several with MRG_RXBUF) of the RX ring its flow hashes to, among those
//     that run -> used, one call per batch. A guest with no
//     buffer posted loses the frame, counted: a hub floods to every port, and
//     one slow guest must not hold back the others.
// When the front end goes, every ring is reset and its memory unmapped; the
// socket keeps listening (QEMU's reconnect=1).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/datapath/batch_buffers.h"
#include "backends/datapath/frame_loop.h"
#include "backends/datapath/userspace_port.h"
#include "backends/vhost_user/vhost_user_framer.h"
#include "backends/vhost_user/vhost_user_session.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::vhost_user {

// QEMU's MAX_QUEUE_NUM for a vhost-user netdev's queue pairs.
inline constexpr int64_t kMaxQueuePairs = 1024;

struct BackendOptions {
  std::string path;  // the socket the front end connects to
  uint32_t queue_pairs = 1;
};

class VhostUserBackend : public datapath::UserspacePort, private datapath::BatchFlush {
 public:
  static Result<std::unique_ptr<VhostUserBackend>> create(const BackendOptions& options, datapath::FrameLoop& loop);
  ~VhostUserBackend() override;

  // A frame from the peer goes into the guest's RX ring.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  std::vector<Detail> details() const override;

 private:
  VhostUserBackend(BackendOptions options, datapath::FrameLoop& loop) : options_(std::move(options)), loop_(loop) {}

  void accept_front_end();
  void front_end_readable();
  void close_front_end(const std::string& why);
  // Watches a ring's kick fd while it runs, and not otherwise.
  void reconcile(uint32_t index);
  void drain_tx(uint32_t index);
  // A guest frame (behind its header in `chain`) to the peer: in place when
  // it needs nothing done, else copied, its checksum or GSO resolved first
  // when the header asks for it.
  void transmit(const virtio::Chain& chain, size_t header_size);
  bool fill_rx(uint32_t index, std::span<const uint8_t> frame);
  // A ring whose used entries are to be published (and call made) at the
  // next flush; mark_dirty also arranges that flush.
  void note_dirty(uint32_t index);
  void mark_dirty(uint32_t index);
  void flush_batch() override;

  BackendOptions options_;
  datapath::FrameLoop& loop_;
  UniqueFd listener_;
  ino_t socket_inode_ = 0;  // the socket file we made, removed with the netdev
  std::optional<uint32_t> listen_watch_;
  UniqueFd connection_;
  std::optional<uint32_t> connection_watch_;
  Framer framer_;
  std::unique_ptr<Session> session_;
  std::vector<std::optional<uint32_t>> kick_watches_;  // by ring
  std::vector<uint32_t> dirty_rings_;                  // used entries to publish at the batch's end
  std::vector<uint32_t> rx_running_;                   // the RX rings that run, ascending: frames spread over them
  std::vector<virtio::Chain> rx_chains_;               // the RX buffers of the frame being placed
  datapath::BatchBuffers tx_buffers_;                            // guest frames the peer may hold until the batch's end
  struct TxTaken {
    uint32_t ring;
    uint16_t head;
  };
  std::vector<TxTaken> tx_used_;  // TX chains taken, used once the peer has sent them
  // Sessions closed inside a batch: their memory stays mapped until its end.
  std::vector<std::unique_ptr<Session>> retired_sessions_;

  uint64_t connections_ = 0, disconnects_ = 0;
  std::string last_error_;
  uint64_t frames_out_ = 0, bytes_out_ = 0, drops_no_rx_buffer_ = 0, drops_not_running_ = 0, drops_oversize_ = 0;
  uint64_t frames_in_place_ = 0;
  uint64_t checksums_completed_ = 0, frames_segmented_ = 0, drops_bad_offload_ = 0;
  std::string last_offload_error_;  // the first refusal is logged, the latest kept here
};

}  // namespace vnet::vhost_user
