#include "virtio/vdpa_selftest.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>

#include "kernel_ifaces/unique_fd.h"
#include "kernel_ifaces/vhost.h"
#include "kernel_ifaces/vhost_ioctl.h"
#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"

namespace vnet::vdpa {

namespace {

// virtio 1.x device status bits.
constexpr uint8_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8;
constexpr uint32_t kNetDeviceId = 1;
constexpr size_t kNetHeader = 12;  // virtio_net_hdr_v1, VERSION_1 without MRG_RXBUF
constexpr uint64_t kIovaBase = 0x100000;  // not 0: a device ignoring the IOVA faults
constexpr uint16_t kQueueSize = 64;

Error step_failed(const char* what, int err) { return Error::from_errno(-err, what); }

// The device as this process drives it; resets it and unmaps on the way out.
class Driver {
 public:
  explicit Driver(UniqueFd fd) : fd_(std::move(fd)) {}
  ~Driver() {
    if (status_set_) (void)vnet_vhost_vdpa_set_status(fd_.get(), 0);
    if (mapped_) (void)vnet_vhost_iotlb_invalidate(fd_.get(), kIovaBase, memory_->size());
  }
  Result<void> start(int queue_pairs, int frames, int frame_size);
  QueuePairResult run_pair(int pair, const SelftestOptions& options);

 private:
  struct Ring {
    std::unique_ptr<virtio::SplitQueue> queue;
    UniqueFd kick, call;
  };
  Result<void> set_up_ring(unsigned index, Ring& ring);

  UniqueFd fd_;
  std::unique_ptr<virtio::GuestMemory> memory_;
  std::vector<Ring> rings_;  // 2 per queue pair: rx, tx
  bool status_set_ = false, mapped_ = false;
};

Result<void> Driver::start(int queue_pairs, int frames, int frame_size) {
  int fd = fd_.get();
  if (int err = vnet_vhost_set_owner(fd); err < 0) {
    if (err == -EBUSY) return Error{EBUSY, "the device is in use (a VMM or another driver owns its rings)"};
    return step_failed("VHOST_SET_OWNER", err);
  }
  uint64_t backend = 0;
  if (int err = vnet_vhost_get_backend_features(fd, &backend); err < 0) {
    return step_failed("VHOST_GET_BACKEND_FEATURES", err);
  }
  if (!(backend & vnet_vhost_backend_f_iotlb_msg_v2)) {
    return Error{EOPNOTSUPP, "the device does not take IOTLB v2 messages (VHOST_BACKEND_F_IOTLB_MSG_V2)"};
  }
  if (int err = vnet_vhost_set_backend_features(fd, vnet_vhost_backend_f_iotlb_msg_v2); err < 0) {
    return step_failed("VHOST_SET_BACKEND_FEATURES", err);
  }
  auto offered = vhost::get_features(fd);
  if (!offered) return offered.take_error();
  if (!(*offered & vnet_virtio_f_version_1)) return Error{EOPNOTSUPP, "the device does not offer VIRTIO_F_VERSION_1"};
  // Only what the test needs: no offloads, no mergeable buffers, no MQ.
  uint64_t features = vnet_virtio_f_version_1 | (*offered & vnet_virtio_f_access_platform);
  if (int err = vnet_vhost_vdpa_set_status(fd, kAcknowledge | kDriver); err < 0) {
    return step_failed("VHOST_VDPA_SET_STATUS (ACKNOWLEDGE|DRIVER)", err);
  }
  status_set_ = true;
  if (int err = vnet_vhost_set_features(fd, features); err < 0) return step_failed("VHOST_SET_FEATURES", err);
  if (int err = vnet_vhost_vdpa_set_status(fd, kAcknowledge | kDriver | kFeaturesOk); err < 0) {
    return step_failed("VHOST_VDPA_SET_STATUS (FEATURES_OK)", err);
  }
  uint8_t status = 0;
  if (int err = vnet_vhost_vdpa_get_status(fd, &status); err < 0) return step_failed("VHOST_VDPA_GET_STATUS", err);
  if (!(status & kFeaturesOk)) return Error{EINVAL, "the device refused the features (FEATURES_OK not kept)"};

  // Rings and buffers in one region, mapped once.
  size_t buffers = size_t(queue_pairs) * 2 * std::max(frames, 1) * (kNetHeader + frame_size + 64);
  size_t rings = size_t(queue_pairs) * 2 * 3 * 4096 * 2;
  size_t size = (buffers + rings + (1 << 20) + 4095) / 4096 * 4096;
  auto memory = virtio::GuestMemory::create(size, kIovaBase);
  if (!memory) return memory.take_error();
  memory_ = std::move(*memory);
  if (int err = vnet_vhost_iotlb_update(fd, kIovaBase, memory_->size(), memory_->userspace_addr()); err < 0) {
    return step_failed("IOTLB update (mapping the test's memory)", err);
  }
  mapped_ = true;
  rings_.resize(size_t(queue_pairs) * 2);
  for (unsigned index = 0; index < rings_.size(); index++) {
    if (auto set = set_up_ring(index, rings_[index]); !set) return set;
  }
  if (int err = vnet_vhost_vdpa_set_status(fd, kAcknowledge | kDriver | kFeaturesOk | kDriverOk); err < 0) {
    return step_failed("VHOST_VDPA_SET_STATUS (DRIVER_OK)", err);
  }
  return {};
}

Result<void> Driver::set_up_ring(unsigned index, Ring& ring) {
  int fd = fd_.get();
  uint16_t max = 0;
  if (int err = vnet_vhost_vdpa_get_vring_num(fd, &max); err < 0) return step_failed("VHOST_VDPA_GET_VRING_NUM", err);
  uint16_t size = std::min<uint16_t>(kQueueSize, max ? max : kQueueSize);
  auto queue = virtio::SplitQueue::create(*memory_, size);
  if (!queue) return queue.take_error();
  ring.queue = std::make_unique<virtio::SplitQueue>(std::move(*queue));
  ring.kick = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ring.call = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!ring.kick || !ring.call) return errno_error("eventfd for a vring");
  // The ring addresses a vhost-vdpa device takes are IOVAs.
  auto iova = [&](uint64_t userspace) { return userspace - memory_->userspace_addr() + kIovaBase; };
  if (int err = vnet_vhost_set_vring_num(fd, index, size); err < 0) return step_failed("VHOST_SET_VRING_NUM", err);
  if (int err = vnet_vhost_set_vring_base(fd, index, 0); err < 0) return step_failed("VHOST_SET_VRING_BASE", err);
  if (int err = vnet_vhost_set_vring_addr(fd, index, iova(ring.queue->desc_user_addr()),
                                          iova(ring.queue->avail_user_addr()), iova(ring.queue->used_user_addr()));
      err < 0) {
    return step_failed("VHOST_SET_VRING_ADDR", err);
  }
  if (int err = vnet_vhost_set_vring_kick(fd, index, ring.kick.get()); err < 0) {
    return step_failed("VHOST_SET_VRING_KICK", err);
  }
  if (int err = vnet_vhost_set_vring_call(fd, index, ring.call.get()); err < 0) {
    return step_failed("VHOST_SET_VRING_CALL", err);
  }
  if (int err = vnet_vhost_vdpa_set_vring_enable(fd, index, 1); err < 0) {
    return step_failed("VHOST_VDPA_SET_VRING_ENABLE", err);
  }
  return {};
}

std::vector<uint8_t> test_frame(int pair, int sequence, int size) {
  std::vector<uint8_t> frame(static_cast<size_t>(size));
  const uint8_t head[14] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5};
  std::memcpy(frame.data(), head, sizeof head);
  for (size_t i = sizeof head; i < frame.size(); i++) frame[i] = static_cast<uint8_t>(i * 13 + sequence * 7 + pair);
  std::memcpy(frame.data() + 14, &sequence, sizeof sequence);
  return frame;
}

QueuePairResult Driver::run_pair(int pair, const SelftestOptions& options) {
  QueuePairResult result;
  result.queue_pair = pair;
  Ring& rx = rings_[size_t(pair) * 2];
  Ring& tx = rings_[size_t(pair) * 2 + 1];
  int frames = std::min<int>(options.frames, rx.queue->size());
  size_t slot = kNetHeader + size_t(options.frame_size);
  std::vector<uint64_t> rx_buffers, tx_buffers;
  for (int i = 0; i < frames; i++) {
    auto rx_gpa = memory_->allocate(slot, 64);
    auto tx_gpa = memory_->allocate(slot, 64);
    if (!rx_gpa || !tx_gpa) {
      result.error = "out of test memory";
      return result;
    }
    rx_buffers.push_back(*rx_gpa);
    tx_buffers.push_back(*tx_gpa);
    rx.queue->make_available(static_cast<uint16_t>(i), *rx_gpa, static_cast<uint32_t>(slot), true);
  }
  uint64_t one = 1;
  (void)!write(rx.kick.get(), &one, sizeof one);
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < frames; i++) {
    sent.push_back(test_frame(pair, i, options.frame_size));
    uint8_t* buffer = memory_->host(tx_buffers[size_t(i)], slot);
    std::memset(buffer, 0, kNetHeader);
    std::memcpy(buffer + kNetHeader, sent.back().data(), sent.back().size());
    tx.queue->make_available(static_cast<uint16_t>(i), tx_buffers[size_t(i)], static_cast<uint32_t>(slot), false);
  }
  (void)!write(tx.kick.get(), &one, sizeof one);
  result.sent = frames;
  std::vector<bool> seen(size_t(frames), false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  while (result.received < frames) {
    while (auto used = rx.queue->take_used()) {
      result.received++;
      if (used->id >= frames || used->len < kNetHeader) continue;
      const uint8_t* data = memory_->host(rx_buffers[used->id], used->len);
      size_t length = used->len - kNetHeader;
      // Which frame came back is in the frame itself (loopbacks may reorder).
      int sequence = -1;
      if (length >= 18) std::memcpy(&sequence, data + kNetHeader + 14, sizeof sequence);
      if (sequence >= 0 && sequence < frames && !seen[size_t(sequence)] && length == sent[size_t(sequence)].size() &&
          std::memcmp(data + kNetHeader, sent[size_t(sequence)].data(), length) == 0) {
        seen[size_t(sequence)] = true;
        result.matched++;
      }
    }
    if (result.received >= frames) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd ready{rx.call.get(), POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(std::min<int64_t>(left.count(), 20))) > 0) {
      uint64_t count;
      (void)!read(rx.call.get(), &count, sizeof count);
    }
  }
  while (tx.queue->take_used()) {
  }
  if (result.received < frames) {
    result.error = std::to_string(frames - result.received) + " of " + std::to_string(frames) +
                   " frames did not come back within " + std::to_string(options.timeout_ms) + " ms";
  } else if (result.matched < frames) {
    result.error = std::to_string(frames - result.matched) + " frames came back changed";
  }
  return result;
}

}  // namespace

Result<std::vector<QueuePairResult>> run_selftest(const std::string& vhost_path, const SelftestOptions& options) {
  if (options.frames < 1 || options.frames > 256) return Error{EINVAL, "frames must be 1 to 256"};
  if (options.timeout_ms < 1) return Error{EINVAL, "the timeout must be positive"};
  auto fd = vhost::open_device(vhost_path);
  // vhost-vdpa lets one process open a device at a time.
  if (!fd && fd.error().errnum == EBUSY) {
    return Error{EBUSY, vhost_path + " is in use (a VMM or another driver has it open): " + fd.error().message};
  }
  if (!fd) return fd.take_error();
  auto id = vhost::vdpa_device_id(fd->get());
  if (!id) return id.take_error();
  if (*id != kNetDeviceId) {
    return Error{ENODEV, vhost_path + " is a virtio device of type " + std::to_string(*id) + ", not a net device"};
  }
  // max_virtqueue_pairs (config offset 8) counts only with VIRTIO_NET_F_MQ,
  // which this test does not negotiate: one queue pair.
  Driver driver(std::move(*fd));
  if (auto started = driver.start(1, options.frames, options.frame_size); !started) return started.take_error();
  return std::vector<QueuePairResult>{driver.run_pair(0, options)};
}

}  // namespace vnet::vdpa
