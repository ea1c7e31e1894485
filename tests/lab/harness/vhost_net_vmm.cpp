#include "tests/lab/harness/vhost_net_vmm.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/vhost_ioctl.h"
#include "tests/lab/harness/vmm_ioctl.h"

namespace vnet::lab {

namespace {

Result<void> check(int err, const std::string& what) {
  if (err < 0) return Error::from_errno(-err, what);
  return {};
}

Result<UniqueFd> make_eventfd() {
  UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return errno_error("eventfd");
  return fd;
}

}  // namespace

Result<std::unique_ptr<VhostNetQueuePair>> VhostNetQueuePair::start(UniqueFd vhost, UniqueFd tap,
                                                                      GuestMemory& memory, uint64_t wanted_features,
                                                                      uint16_t ring_size) {
  std::unique_ptr<VhostNetQueuePair> qp(new VhostNetQueuePair(std::move(vhost), std::move(tap), memory));
  int fd = qp->vhost_.get();
  if (auto r = check(vnet_vhost_set_owner(fd), "VHOST_SET_OWNER"); !r) return r.take_error();
  uint64_t offered = 0;
  if (auto r = check(vnet_vhost_get_features(fd, &offered), "VHOST_GET_FEATURES"); !r) return r.take_error();
  if (uint64_t missing = wanted_features & ~offered) {
    char text[96];
    std::snprintf(text, sizeof(text), "vhost-net does not offer features %#llx (offers %#llx)",
                  static_cast<unsigned long long>(missing), static_cast<unsigned long long>(offered));
    return Error::plain(text);
  }
  if (auto r = check(vnet_vhost_set_features(fd, wanted_features), "VHOST_SET_FEATURES"); !r) return r.take_error();
  if (auto r = check(lab_vhost_set_mem_table(fd, memory.gpa_base(), memory.size(), memory.userspace_addr()),
                     "VHOST_SET_MEM_TABLE");
      !r) {
    return r.take_error();
  }
  // Without VHOST_NET_F_VIRTIO_NET_HDR the tap reads and writes the header
  // itself, so its size must be the negotiated one (QEMU's
  // tap_set_vnet_hdr_len() when the guest acks the features).
  if (auto r = tun::set_vnet_hdr_size(qp->tap_.get(), lab_virtio_net_hdr_mrg_rxbuf_size); !r) return r.take_error();
  if (auto r = tun::set_offload(qp->tap_.get(), 0); !r) return r.take_error();

  auto rx = qp->setup_ring(kRxQueue, ring_size);
  if (!rx) return rx.take_error();
  qp->rx_.emplace(std::move(*rx));
  auto tx = qp->setup_ring(kTxQueue, ring_size);
  if (!tx) return tx.take_error();
  qp->tx_.emplace(std::move(*tx));
  for (uint16_t id = 0; id < ring_size; id++) {
    qp->rx_->queue.make_available(id, qp->rx_->buffers[id], kBufferSize, true);
    qp->tx_free_.push_back(static_cast<uint16_t>(ring_size - 1 - id));
  }
  for (unsigned index : {kRxQueue, kTxQueue}) {
    if (auto r = check(lab_vhost_net_set_backend(fd, index, qp->tap_.get()),
                       "VHOST_NET_SET_BACKEND vq " + std::to_string(index));
        !r) {
      return r.take_error();
    }
    qp->attached_ = true;
  }
  if (auto r = qp->kick(*qp->rx_); !r) return r.take_error();
  return qp;
}

Result<VhostNetQueuePair::Ring> VhostNetQueuePair::setup_ring(unsigned index, uint16_t size) {
  int fd = vhost_.get();
  std::string vq = " vq " + std::to_string(index);
  auto queue = SplitQueue::create(*memory_, size);
  if (!queue) return queue.take_error();
  auto kick = make_eventfd();
  if (!kick) return kick.take_error();
  auto call = make_eventfd();
  if (!call) return call.take_error();
  Ring ring{std::move(*queue), std::move(*kick), std::move(*call), {}};
  for (uint16_t i = 0; i < size; i++) {
    auto gpa = memory_->allocate(kBufferSize, 64);
    if (!gpa) return gpa.take_error();
    ring.buffers.push_back(*gpa);
  }
  if (auto r = check(vnet_vhost_set_vring_num(fd, index, size), "VHOST_SET_VRING_NUM" + vq); !r) return r.take_error();
  if (auto r = check(vnet_vhost_set_vring_base(fd, index, 0), "VHOST_SET_VRING_BASE" + vq); !r) return r.take_error();
  if (auto r = check(vnet_vhost_set_vring_addr(fd, index, ring.queue.desc_user_addr(), ring.queue.avail_user_addr(),
                                              ring.queue.used_user_addr()),
                     "VHOST_SET_VRING_ADDR" + vq);
      !r) {
    return r.take_error();
  }
  if (auto r = check(vnet_vhost_set_vring_kick(fd, index, ring.kick.get()), "VHOST_SET_VRING_KICK" + vq); !r) {
    return r.take_error();
  }
  if (auto r = check(vnet_vhost_set_vring_call(fd, index, ring.call.get()), "VHOST_SET_VRING_CALL" + vq); !r) {
    return r.take_error();
  }
  return ring;
}

VhostNetQueuePair::~VhostNetQueuePair() {
  if (attached_) {
    for (unsigned index : {kRxQueue, kTxQueue}) (void)lab_vhost_net_set_backend(vhost_.get(), index, -1);
  }
}

Result<void> VhostNetQueuePair::kick(const Ring& ring) {
  uint64_t one = 1;
  if (write(ring.kick.get(), &one, sizeof(one)) != sizeof(one)) return errno_error("kicking a vring");
  return {};
}

Result<bool> VhostNetQueuePair::wait_call(const Ring& ring, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() < 0) return false;
  pollfd pfd{ring.call.get(), POLLIN, 0};
  int ready = poll(&pfd, 1, static_cast<int>(left.count()) + 1);
  if (ready < 0) {
    if (errno == EINTR) return true;  // the caller looks at the ring again
    return errno_error("poll on a call eventfd");
  }
  if (ready == 0) return false;
  uint64_t count;  // eventfd: reading clears it
  if (read(ring.call.get(), &count, sizeof(count)) < 0 && errno != EAGAIN) return errno_error("reading a call eventfd");
  return true;
}

Result<void> VhostNetQueuePair::send(std::span<const uint8_t> frame, std::chrono::milliseconds timeout) {
  if (frame.size() + sizeof(VirtioNetHdr) > kBufferSize) return Error::plain("frame larger than a buffer");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Take back what the device has finished with.
  while (auto used = tx_->queue.take_used()) tx_free_.push_back(used->id);
  if (tx_free_.empty()) return Error::plain("transmitq full: the device uses no buffers");
  uint16_t id = tx_free_.back();
  tx_free_.pop_back();
  uint64_t gpa = tx_->buffers[id];
  uint8_t* buffer = memory_->host(gpa, kBufferSize);
  std::memset(buffer, 0, sizeof(VirtioNetHdr));
  std::memcpy(buffer + sizeof(VirtioNetHdr), frame.data(), frame.size());
  tx_->queue.make_available(id, gpa, static_cast<uint32_t>(sizeof(VirtioNetHdr) + frame.size()), false);
  if (auto k = kick(*tx_); !k) return k;
  for (;;) {
    while (auto used = tx_->queue.take_used()) {
      tx_free_.push_back(used->id);
      if (used->id == id) return {};
    }
    auto called = wait_call(*tx_, deadline);
    if (!called) return called.take_error();
    if (!*called) return Error::plain("vhost-net did not use the transmit buffer within the timeout");
  }
}

Result<std::optional<ReceivedFrame>> VhostNetQueuePair::receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto used = rx_->queue.take_used()) {
      if (used->id >= rx_->buffers.size()) return Error::plain("device used descriptor " + std::to_string(used->id));
      if (used->len < sizeof(VirtioNetHdr) || used->len > kBufferSize) {
        return Error::plain("device wrote " + std::to_string(used->len) + " bytes into a receive buffer");
      }
      uint64_t gpa = rx_->buffers[used->id];
      const uint8_t* buffer = memory_->host(gpa, kBufferSize);
      ReceivedFrame frame;
      std::memcpy(&frame.header, buffer, sizeof(VirtioNetHdr));
      frame.data.assign(buffer + sizeof(VirtioNetHdr), buffer + used->len);
      rx_->queue.make_available(used->id, gpa, kBufferSize, true);
      if (auto k = kick(*rx_); !k) return k.take_error();
      return std::optional<ReceivedFrame>(std::move(frame));
    }
    auto called = wait_call(*rx_, deadline);
    if (!called) return called.take_error();
    if (!*called) return std::optional<ReceivedFrame>();
  }
}

}  // namespace vnet::lab
