#include "backends/vhost_user/vhost_user_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "backends/datapath/flow_hash.h"
#include "backends/datapath/tx_offload.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/unix_listener.h"
#include "virtio/net_header.h"
#include "virtio/chain_io.h"

namespace vnet::vhost_user {

namespace {

// Chains one kick may take before the loop serves others; the rest are taken
// on the next turn (the kick eventfd is raised again).
constexpr unsigned kTxChainsPerTurn = 512;
// Chains after which their buffers go back to the guest, not waiting for the
// turn's end.
constexpr unsigned kTxChainsPerRelease = 64;

void drain_eventfd(int fd) {
  eventfd_t value;
  (void)eventfd_read(fd, &value);
}

}  // namespace

Result<std::unique_ptr<VhostUserBackend>> VhostUserBackend::create(const BackendOptions& options,
                                                                   datapath::FrameLoop& loop) {
  if (options.queue_pairs < 1 || options.queue_pairs > kMaxQueuePairs) {
    return Error{EINVAL, "queues must be 1 to " + std::to_string(kMaxQueuePairs)};
  }
  std::unique_ptr<VhostUserBackend> backend(new VhostUserBackend(options, loop));
  auto listener = unix_socket::listen_at(options.path);
  if (!listener) return listener.take_error();
  backend->listener_ = std::move(*listener);
  struct stat st {};
  if (stat(options.path.c_str(), &st) == 0) backend->socket_inode_ = st.st_ino;
  auto watch = loop.watch(backend->listener_.get(), POLLIN, [b = backend.get()](uint32_t) { b->accept_front_end(); });
  if (!watch) return watch.take_error();
  backend->listen_watch_ = *watch;
  return backend;
}

VhostUserBackend::~VhostUserBackend() {
  close_front_end("");
  if (listen_watch_) loop_.unwatch(*listen_watch_);
  loop_.forget_flush(*this);
  retired_sessions_.clear();
  // The socket file is ours unless another process has put its own there since.
  struct stat st {};
  if (socket_inode_ && stat(options_.path.c_str(), &st) == 0 && st.st_ino == socket_inode_) {
    unlink(options_.path.c_str());
  }
}

void VhostUserBackend::accept_front_end() {
  UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd) return;
  // One front end at a time: a second is turned away, the first keeps going.
  if (connection_) {
    log::warning("vhost-user " + options_.path + ": a second front end connected; closed");
    return;
  }
  auto watch = loop_.watch(fd.get(), POLLIN, [this](uint32_t) { front_end_readable(); });
  if (!watch) return;
  connection_ = std::move(fd);
  connection_watch_ = *watch;
  framer_ = Framer{};
  session_ = std::make_unique<Session>(SessionLimits{options_.queue_pairs},
                                       [this](std::span<const uint8_t> frame) { deliver(frame); });
  kick_watches_.assign(session_->ring_count(), std::nullopt);
  connections_++;
}

void VhostUserBackend::front_end_readable() {
  for (;;) {
    auto got = receive(connection_.get(), framer_);
    if (!got) {
      if (got.error().errnum == EAGAIN) return;
      return close_front_end(got.error().message);
    }
    if (*got == 0) return close_front_end("the front end closed the connection");
    while (auto message = framer_.next()) {
      if (!*message) return close_front_end(message->error().message);
      if (!tx_used_.empty()) {
        // Rings stop and memory is remapped only once every TX buffer taken
        // is sent and used.
        loop_.flush_now();
        if (!connection_) return;
      }
      auto outcome = session_->handle(std::move(message->value()));
      if (!outcome) return close_front_end(outcome.error().message);
      if (!outcome->reply.empty() &&
          send(connection_.get(), outcome->reply.data(), outcome->reply.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(outcome->reply.size())) {
        return close_front_end(errno_error("sending a reply").message);
      }
      for (uint32_t index : outcome->rings_changed) reconcile(index);
      if (!connection_) return;  // a ring that could not be watched ended it
    }
  }
}

void VhostUserBackend::close_front_end(const std::string& why) {
  if (!connection_) return;
  if (!why.empty()) {
    last_error_ = why;
    log::warning("vhost-user " + options_.path + ": front end disconnected: " + why);
  }
  for (auto& watch : kick_watches_) {
    if (watch) loop_.unwatch(*watch);
    watch.reset();
  }
  dirty_rings_.clear();
  tx_used_.clear();
  rx_running_.clear();
  loop_.unwatch(*connection_watch_);
  connection_watch_.reset();
  connection_.reset();
  // Every ring goes, and the guest's memory is unmapped with the session:
  // inside a batch only at its end, once no peer holds a frame sent in place.
  if (loop_.in_batch()) {
    retired_sessions_.push_back(std::move(session_));
    loop_.defer_release(*this);
  }
  session_.reset();
  disconnects_++;
}

void VhostUserBackend::reconcile(uint32_t index) {
  if (!session_ || index >= kick_watches_.size()) return;
  auto& watch = kick_watches_[index];
  if (watch) loop_.unwatch(*watch);
  watch.reset();
  Ring& ring = session_->ring(index);
  if (index % 2 == 0) {
    // RX rings are filled on demand, never kicked for: only which run is kept.
    std::erase(rx_running_, index);
    if (ring.running()) rx_running_.insert(std::upper_bound(rx_running_.begin(), rx_running_.end(), index), index);
    return;
  }
  if (!ring.running()) return;
  auto watched = loop_.watch(ring.kick.get(), POLLIN, [this, index](uint32_t) { drain_tx(index); });
  if (!watched) return close_front_end("watching the kick of ring " + std::to_string(index) + ": " +
                                       watched.error().message);
  watch = *watched;
}

void VhostUserBackend::drain_tx(uint32_t index) {
  drain_eventfd(session_->ring(index).kick.get());
  if (!session_->ring(index).running()) return;
  const size_t header = session_->net_header_size();
  for (unsigned taken = 0;; taken++) {
    if (taken && taken % kTxChainsPerRelease == 0) {
      // The peer sends what it holds and the guest gets these buffers back
      // now, not at the batch's end: it refills while we go on (as
      // vhost-net signals every VHOST_NET_BATCH).
      loop_.flush_now();
      if (!session_) return;
    }
    Ring& ring = session_->ring(index);
    if (taken == kTxChainsPerTurn) {
      (void)eventfd_write(ring.kick.get(), 1);  // more next turn
      break;
    }
    auto chain = ring.queue->pop();
    if (!chain) return close_front_end("TX ring " + std::to_string(index) + ": " + chain.error().message);
    if (!*chain) {
      // Asks for a kick at the next buffer (with EVENT_IDX, avail_event moves
      // up to here); one that came meanwhile is taken now, as no kick will
      // announce it.
      if (ring.queue->enable_notifications(true)) continue;
      break;
    }
    const virtio::Chain& c = **chain;
    if (c.readable_len > header && c.readable_len - header <= datapath::FrameLoop::kMaxFrame) {
      transmit(c, header);
    } else {
      drops_oversize_++;
    }
    // Used once the peer has sent it: a frame sent in place is the guest's
    // buffer itself.
    tx_used_.push_back({index, c.head});
  }
  mark_dirty(index);
}

void VhostUserBackend::transmit(const virtio::Chain& chain, size_t header_size) {
  // Only what was negotiated may be asked for; a header is all zeros otherwise.
  virtio::NetHeader header{};
  virtio::copy_from_chain(chain, 0, std::span(reinterpret_cast<uint8_t*>(&header), virtio::kNetHeaderLegacySize));
  datapath::TxOffload offload{header.flags, header.gso_type, header.gso_size, header.csum_start, header.csum_offset};
  const size_t frame_size = chain.readable_len - header_size;
  if (offload.flags == 0 && offload.gso_type == virtio::kNetHdrGsoNone) {
    // In one piece of guest memory (the usual case): handed on in place,
    // the guest's buffer kept from it until the peer has sent it.
    if (auto in_place = virtio::readable_in_place(chain, header_size)) {
      frames_in_place_++;
      return deliver(*in_place);
    }
    auto buffer = tx_buffers_.take(frame_size);
    return deliver(buffer.first(virtio::copy_from_chain(chain, header_size, buffer)));
  }
  if (!session_->feature(virtio::kNetFCsum)) {
    drops_bad_offload_++;
    return;
  }
  // Completing a checksum writes into the frame: a copy of it, never the
  // guest's buffer.
  auto frame = tx_buffers_.take(frame_size);
  frame = frame.first(virtio::copy_from_chain(chain, header_size, frame));
  const bool segmented = offload.gso_type != virtio::kNetHdrGsoNone;
  std::string refused = datapath::resolve_tx_offload(
      offload, frame, {[this](size_t size) { return tx_buffers_.take(size); },
                       [this](std::span<const uint8_t> out) { deliver(out); }});
  if (!refused.empty()) {
    drops_bad_offload_++;
    if (last_offload_error_.empty()) {
      log::warning("vhost-user " + options_.path + ": a guest frame's offload refused: " + refused);
    }
    last_offload_error_ = refused;
    return;
  }
  segmented ? frames_segmented_++ : checksums_completed_++;
}

void VhostUserBackend::note_dirty(uint32_t index) {
  if (std::find(dirty_rings_.begin(), dirty_rings_.end(), index) == dirty_rings_.end()) dirty_rings_.push_back(index);
}

void VhostUserBackend::mark_dirty(uint32_t index) {
  note_dirty(index);
  if (loop_.in_batch()) {
    // After every sender: frames sent in place are in the guest's memory.
    loop_.defer_release(*this);
  } else {
    flush_batch();
  }
}

Result<void> VhostUserBackend::send_from_guest(std::span<const uint8_t> frame) {
  // Spread over the RX rings that run by the frame's flow, so that one
  // flow's frames stay in order on one ring (virtio 1.2, 5.1.6.5.5).
  if (!session_ || rx_running_.empty()) {
    drops_not_running_++;
    return {};
  }
  const uint32_t index =
      rx_running_.size() == 1 ? rx_running_[0] : rx_running_[datapath::flow_hash(frame) % rx_running_.size()];
  if (!session_->ring(index).running()) {
    drops_not_running_++;
    return {};
  }
  if (!fill_rx(index, frame)) return {};
  frames_out_++;
  bytes_out_ += frame.size();
  mark_dirty(index);
  return {};
}

bool VhostUserBackend::fill_rx(uint32_t index, std::span<const uint8_t> frame) {
  Ring& ring = session_->ring(index);
  const size_t header_size = session_->net_header_size();
  const bool mergeable = session_->feature(virtio::kNetFMrgRxbuf);
  const size_t need = header_size + frame.size();
  // The buffers the frame needs: one, or with MRG_RXBUF as many as it takes.
  auto& chains = rx_chains_;
  chains.clear();
  size_t room = 0;
  while (room < need && (chains.empty() || mergeable)) {
    auto popped = ring.queue->pop();
    if (!popped) {
      close_front_end("RX ring " + std::to_string(index) + ": " + popped.error().message);
      return false;
    }
    if (!*popped) break;
    room += (*popped)->writable_len;
    chains.push_back(std::move(**popped));
  }
  // The header goes whole into the first buffer (virtio 1.2, 5.1.6.4).
  bool header_fits = !chains.empty() && chains[0].writable_len >= header_size;
  if (room < need || !header_fits) {
    // Too few buffers, or one too small: they go back on the ring for the
    // next frame.
    bool too_small = !chains.empty() && (!mergeable || !header_fits);
    std::vector<uint16_t> heads;
    for (const auto& chain : chains) heads.push_back(chain.head);
    if (auto given_back = ring.queue->unpop(heads); !given_back) {
      close_front_end("RX ring " + std::to_string(index) + ": " + given_back.error().message);
      return false;
    }
    too_small ? drops_oversize_++ : drops_no_rx_buffer_++;
    return false;
  }
  virtio::NetHeader header{};
  header.gso_type = virtio::kNetHdrGsoNone;
  header.num_buffers = static_cast<uint16_t>(chains.size());
  std::span<const uint8_t> header_bytes(reinterpret_cast<const uint8_t*>(&header), header_size);
  size_t offset = 0;
  for (size_t i = 0; i < chains.size(); i++) {
    auto head = i == 0 ? header_bytes : std::span<const uint8_t>();
    size_t frame_room = chains[i].writable_len - head.size();
    auto part = frame.subspan(offset, std::min(frame_room, frame.size() - offset));
    size_t written = virtio::copy_into_chain(chains[i], head, part);
    offset += part.size();
    ring.queue->log_written(chains[i], static_cast<uint32_t>(written));
    if (auto used = ring.queue->push_used(chains[i].head, static_cast<uint32_t>(written)); !used) {
      close_front_end("RX ring " + std::to_string(index) + ": " + used.error().message);
      return false;
    }
  }
  return true;
}

void VhostUserBackend::flush_batch() {
  for (auto [index, head] : tx_used_) {
    if (!session_) break;
    Ring& ring = session_->ring(index);
    if (!ring.queue) continue;
    if (auto used = ring.queue->push_used(head, 0); !used) {
      // Closing clears tx_used_: leave the loop before touching it again.
      close_front_end("TX ring " + std::to_string(index) + ": " + used.error().message);
      break;
    }
    note_dirty(index);
  }
  tx_used_.clear();
  for (uint32_t index : dirty_rings_) {
    if (!session_) break;
    Ring& ring = session_->ring(index);
    if (!ring.queue) continue;
    ring.queue->flush_used();
    if (ring.queue->needs_notify() && ring.call) (void)eventfd_write(ring.call.get(), 1);
  }
  dirty_rings_.clear();
  tx_buffers_.recycle();
  // No sender holds a frame of theirs any more.
  retired_sessions_.clear();
}

std::vector<Detail> VhostUserBackend::details() const {
  std::vector<Detail> out{{"chardev", options_.path},
                          {"queues", int64_t{options_.queue_pairs}},
                          {"connected", static_cast<bool>(connection_)}};
  if (session_) {
    out.push_back({"features", static_cast<int64_t>(session_->features())});
    out.push_back({"protocol-features", static_cast<int64_t>(session_->protocol_features())});
    std::vector<int64_t> running;
    for (uint32_t i = 0; i < session_->ring_count(); i++) {
      if (session_->ring(i).running()) running.push_back(i);
    }
    out.push_back({"rings-running", running});
    if (auto mtu = session_->mtu()) out.push_back({"mtu", static_cast<int64_t>(*mtu)});
    out.push_back({"dirty-log", session_->memory().logging()});
    out.push_back({"dirty-pages-logged", static_cast<int64_t>(session_->pages_logged())});
  }
  append_inbound_details(out);
  out.push_back({"frames-out", static_cast<int64_t>(frames_out_)});
  out.push_back({"bytes-out", static_cast<int64_t>(bytes_out_)});
  out.push_back({"drops-no-rx-buffer", static_cast<int64_t>(drops_no_rx_buffer_)});
  out.push_back({"drops-not-running", static_cast<int64_t>(drops_not_running_)});
  out.push_back({"drops-oversize", static_cast<int64_t>(drops_oversize_)});
  out.push_back({"frames-in-place", static_cast<int64_t>(frames_in_place_)});
  out.push_back({"checksums-completed", static_cast<int64_t>(checksums_completed_)});
  out.push_back({"frames-segmented", static_cast<int64_t>(frames_segmented_)});
  out.push_back({"drops-bad-offload", static_cast<int64_t>(drops_bad_offload_)});
  if (!last_offload_error_.empty()) out.push_back({"last-offload-error", last_offload_error_});
  out.push_back({"connections", static_cast<int64_t>(connections_)});
  out.push_back({"disconnects", static_cast<int64_t>(disconnects_)});
  if (!last_error_.empty()) out.push_back({"last-error", last_error_});
  return out;
}

}  // namespace vnet::vhost_user
