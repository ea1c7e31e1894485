#include "backends/vhost_vdpa/vhost_vdpa_backend.h"

#include <cstdio>
#include <cstring>

#include "kernel_ifaces/vhost.h"
#include "virtio/net_header.h"

namespace vnet::vhost_vdpa {

namespace {

using virtio::kNetFMac;
using virtio::kNetFMq;

// struct virtio_net_config: mac[6] at 0, status at 6, max_virtqueue_pairs at 8.
constexpr uint32_t kConfigMac = 0, kConfigMaxVqp = 8;

bool has(uint64_t features, unsigned bit) { return features & (uint64_t{1} << bit); }

}  // namespace

Result<std::unique_ptr<VhostVdpaBackend>> VhostVdpaBackend::create(const qapi::NetdevVhostVDPAOptions& options) {
  // QEMU 7.2's net_init_vhost_vdpa() checks, in its order and words.
  if (!options.vhostdev) return Error{EINVAL, "vhost-vdpa: neither vhostdev= nor vhostfd= was specified"};
  std::unique_ptr<VhostVdpaBackend> backend(new VhostVdpaBackend());
  backend->path_ = *options.vhostdev;
  auto fd = vhost::open_device(backend->path_);
  if (!fd) {
    return Error{fd.error().errnum, "Could not open '" + backend->path_ + "': " + std::strerror(fd.error().errnum)};
  }
  backend->fd_ = std::move(*fd);
  auto features = vhost::get_features(backend->fd_.get());
  if (!features) {
    return Error{features.error().errnum,
                 "Fail to query features from vhost-vDPA device: " + std::string(std::strerror(features.error().errnum))};
  }
  backend->features_ = *features;
  // Beyond QEMU: a vDPA block device would be taken as a NIC there.
  auto device_id = vhost::vdpa_device_id(backend->fd_.get());
  if (!device_id) return device_id.take_error();
  if (*device_id != virtio::kIdNet) {
    return Error{EINVAL, "vhost-vdpa: '" + backend->path_ + "' is not a network device (virtio device id " +
                             std::to_string(*device_id) + ")"};
  }
  if (has(*features, kNetFMq)) {
    auto config = vhost::vdpa_config(backend->fd_.get(), kConfigMaxVqp, 2);
    if (!config) {
      return Error{config.error().errnum,
                   "Fail to get config from vhost-vDPA device: " + std::string(std::strerror(config.error().errnum))};
    }
    backend->max_queue_pairs_ = (*config)[0] | ((*config)[1] << 8);  // virtio 1.0 config is little-endian
  }
  // Beyond QEMU, which ignores queues=: it must fit the device.
  if (options.queues) {
    if (*options.queues < 1 || *options.queues > backend->max_queue_pairs_) {
      return Error{EINVAL, "vhost-vdpa: queues=" + std::to_string(*options.queues) + " but '" + backend->path_ +
                               "' has " + std::to_string(backend->max_queue_pairs_) + " queue pair" +
                               (backend->max_queue_pairs_ == 1 ? "" : "s") +
                               (has(*features, kNetFMq) ? "" : " (it does not offer VIRTIO_NET_F_MQ)")};
    }
    backend->queues_ = static_cast<uint32_t>(*options.queues);
  }
  if (has(*features, kNetFMac)) {
    auto mac = vhost::vdpa_config(backend->fd_.get(), kConfigMac, 6);
    if (mac) {
      char text[18];
      std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", (*mac)[0], (*mac)[1], (*mac)[2], (*mac)[3],
                    (*mac)[4], (*mac)[5]);
      backend->mac_ = text;
    }
  }
  return backend;
}

std::vector<Detail> VhostVdpaBackend::details() const {
  std::vector<Detail> out{{"vhostdev", path_},
                          {"features", static_cast<int64_t>(features_)},
                          {"max-queue-pairs", int64_t{max_queue_pairs_}},
                          {"queues", int64_t{queues_}}};
  if (!mac_.empty()) out.push_back({"mac", mac_});
  return out;
}

}  // namespace vnet::vhost_vdpa
