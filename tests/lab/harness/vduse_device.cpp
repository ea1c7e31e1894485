#include "tests/lab/harness/vduse_device.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "tests/lab/harness/vduse_ioctl.h"

namespace vnet::lab {

namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
// virtio-net and transport feature bits (virtio spec).
constexpr unsigned kNetFMtu = 3, kNetFMac = 5, kNetFStatus = 16, kNetFMq = 22;
constexpr unsigned kFVersion1 = 32, kFAccessPlatform = 33;  // VDUSE requires ACCESS_PLATFORM

}  // namespace

Result<std::unique_ptr<VduseDevice>> VduseDevice::create(const std::string& name, const VduseNetConfig& config) {
  UniqueFd control(open("/dev/vduse/control", O_RDWR | O_CLOEXEC));
  if (!control) return errno_error("opening /dev/vduse/control (is the vduse module loaded?)");
  // VDUSE refuses a net device with a control queue, so no MQ negotiation:
  // max_vqp is reported in the config space all the same.
  uint64_t features = bit(kFVersion1) | bit(kFAccessPlatform) | bit(kNetFMac) | bit(kNetFMtu) | bit(kNetFStatus);
  (void)kNetFMq;
  uint16_t status = config.link_up ? 1 : 0;  // VIRTIO_NET_S_LINK_UP
  int fd = lab_vduse_create_net(control.get(), name.c_str(), features, config.mac.data(), status, config.max_vqp,
                                config.mtu, 2u * config.max_vqp, config.queue_size);
  if (fd < 0) return Error::from_errno(-fd, "creating VDUSE device \"" + name + "\"");
  UniqueFd device(fd);
  UniqueFd stop(eventfd(0, EFD_CLOEXEC));
  if (!stop) {
    lab_vduse_destroy(control.get(), name.c_str());
    return errno_error("eventfd");
  }
  std::unique_ptr<VduseDevice> made(
      new VduseDevice(name, std::move(control), std::move(device), std::move(stop), features, config.echo));
  made->thread_ = std::thread([raw = made.get()] { raw->serve(); });
  return made;
}

VduseDevice::VduseDevice(std::string name, UniqueFd control, UniqueFd device, UniqueFd stop, uint64_t features,
                         bool echo)
    : name_(std::move(name)),
      control_(std::move(control)),
      device_(std::move(device)),
      stop_(std::move(stop)),
      features_(features),
      echo_(echo) {}

VduseDevice::~VduseDevice() {
  uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  device_.reset();  // VDUSE_DESTROY_DEV wants no open reference
  if (int r = lab_vduse_destroy(control_.get(), name_.c_str()); r < 0) {
    std::fprintf(stderr, "VduseDevice: destroying \"%s\": %s\n", name_.c_str(), std::strerror(-r));
  }
}

void VduseDevice::serve() {
  for (;;) {
    pollfd fds[4] = {{device_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    if (running_) {
      fds[2].fd = queues_[0].kick.get();
      fds[3].fd = queues_[1].kick.get();
    }
    if (poll(fds, 4, running_ ? 50 : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if (fds[0].revents & POLLIN) {
      uint8_t status = 0;
      int type;
      while ((type = lab_vduse_serve_one(device_.get(), &status)) >= 0) {
        served_++;
        // DRIVER_OK starts the datapath, a reset (or new mappings) ends it.
        if (type == lab_vduse_set_status && (status & 4) && !running_) running_ = start_datapath();
        if (type == lab_vduse_set_status && status == 0) stop_datapath();
        if (type == lab_vduse_update_iotlb && map_) stop_datapath();
      }
    }
    for (int i = 2; i < 4; i++) {
      if (fds[i].fd >= 0 && (fds[i].revents & POLLIN)) {
        uint64_t count;
        (void)!read(fds[i].fd, &count, sizeof count);
      }
    }
    if (running_) move_frames();
  }
  stop_datapath();
}

bool VduseDevice::start_datapath() {
  for (unsigned index = 0; index < 2; index++) {
    Queue& queue = queues_[index];
    int ready = 0;
    if (lab_vduse_vq_info(device_.get(), index, &queue.desc, &queue.driver, &queue.device, &queue.num, &ready) < 0 ||
        !ready || !queue.num) {
      return false;
    }
    queue.last_avail = queue.used = 0;
    queue.kick = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!queue.kick || lab_vduse_vq_kickfd(device_.get(), index, queue.kick.get()) < 0) return false;
  }
  // The driver's rings and buffers: one mapping (the self-test maps one region).
  uint64_t start = 0, last = 0, offset = 0;
  int fd = lab_vduse_iotlb_fd(device_.get(), queues_[0].desc, &start, &last, &offset);
  if (fd < 0) {
    std::fprintf(stderr, "VduseDevice: VDUSE_IOTLB_GET_FD: %s\n", std::strerror(-fd));
    return false;
  }
  map_size_ = last - start + 1;
  void* map = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  close(fd);
  if (map == MAP_FAILED) {
    std::fprintf(stderr, "VduseDevice: mmap of the IOTLB fd: %s\n", std::strerror(errno));
    return false;
  }
  map_ = static_cast<uint8_t*>(map);
  map_start_ = start;
  map_last_ = last;
  return true;
}

void VduseDevice::stop_datapath() {
  running_ = false;
  if (map_) munmap(map_, map_size_);
  map_ = nullptr;
  for (auto& queue : queues_) {
    queue.kick.reset();
    queue.last_avail = queue.used = 0;
  }
}

uint8_t* VduseDevice::at(uint64_t iova, size_t length) {
  if (!map_ || iova < map_start_ || iova > map_last_ || length > map_last_ - iova + 1) return nullptr;
  return map_ + (iova - map_start_);
}

// Every frame the driver has offered on the transmit queue goes to the next
// receive buffer (if echoing); both are marked used and interrupted.
void VduseDevice::move_frames() {
  Queue& rx = queues_[0];
  Queue& tx = queues_[1];
  auto avail_idx = [&](Queue& q) { return __atomic_load_n(reinterpret_cast<uint16_t*>(at(q.driver + 2, 2)), __ATOMIC_ACQUIRE); };
  auto descriptor = [&](Queue& q, uint16_t slot, uint64_t& addr, uint32_t& len) {
    uint16_t head;
    std::memcpy(&head, at(q.driver + 4 + 2 * (slot % q.num), 2), 2);
    std::memcpy(&addr, at(q.desc + 16 * head, 16), 8);
    std::memcpy(&len, at(q.desc + 16 * head + 8, 4), 4);
    return head;
  };
  auto push_used = [&](Queue& q, uint32_t id, uint32_t len) {
    uint32_t elem[2] = {id, len};
    std::memcpy(at(q.device + 4 + 8 * (q.used % q.num), 8), elem, 8);
    q.used++;
    __atomic_store_n(reinterpret_cast<uint16_t*>(at(q.device + 2, 2)), q.used, __ATOMIC_RELEASE);
  };
  if (!at(rx.driver, 4) || !at(tx.driver, 4) || !at(rx.device, 4) || !at(tx.device, 4)) return;
  bool rx_used = false, tx_used = false;
  while (tx.last_avail != avail_idx(tx)) {
    if (echo_ && rx.last_avail == avail_idx(rx)) break;  // no receive buffer yet: wait for one
    uint64_t tx_addr;
    uint32_t tx_len;
    uint16_t tx_head = descriptor(tx, tx.last_avail, tx_addr, tx_len);
    const uint8_t* frame = at(tx_addr, tx_len);
    if (echo_ && frame) {
      uint64_t rx_addr;
      uint32_t rx_len;
      uint16_t rx_head = descriptor(rx, rx.last_avail, rx_addr, rx_len);
      uint32_t copied = std::min(tx_len, rx_len);
      if (uint8_t* buffer = at(rx_addr, copied)) {
        std::memcpy(buffer, frame, copied);
        push_used(rx, rx_head, copied);
        rx_used = true;
        looped_++;
      }
      rx.last_avail++;
    }
    push_used(tx, tx_head, 0);
    tx_used = true;
    tx.last_avail++;
  }
  if (rx_used) (void)lab_vduse_vq_irq(device_.get(), 0);
  if (tx_used) (void)lab_vduse_vq_irq(device_.get(), 1);
}

}  // namespace vnet::lab
