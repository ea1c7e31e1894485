#include "tests/lab/harness/vduse_device.h"

#include <fcntl.h>
#include <poll.h>
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
      new VduseDevice(name, std::move(control), std::move(device), std::move(stop), features));
  made->thread_ = std::thread([raw = made.get()] { raw->serve(); });
  return made;
}

VduseDevice::VduseDevice(std::string name, UniqueFd control, UniqueFd device, UniqueFd stop, uint64_t features)
    : name_(std::move(name)),
      control_(std::move(control)),
      device_(std::move(device)),
      stop_(std::move(stop)),
      features_(features) {}

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
  pollfd fds[2] = {{device_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      while (lab_vduse_serve_one(device_.get()) >= 0) served_++;
    }
  }
}

}  // namespace vnet::lab
