// VhostVdpaBackend - a vhost-vdpa netdev: the /dev/vhost-vdpa-N of a vDPA
// net device, opened and checked (virtio device id, features, config space
// against `queues`), its fd kept for the VMM, which becomes the rings' owner.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "kernel_ifaces/unique_fd.h"
#include "qapi_types.h"

namespace vnet::vhost_vdpa {

class VhostVdpaBackend : public Backend {
 public:
  static Result<std::unique_ptr<VhostVdpaBackend>> create(const qapi::NetdevVhostVDPAOptions& options);

  std::vector<Detail> details() const override;
  std::vector<BackendFd> fds() const override { return {{FdRole::vhost_vdpa, 0, fd_.get()}}; }

 private:
  VhostVdpaBackend() = default;

  std::string path_;
  UniqueFd fd_;
  uint64_t features_ = 0;
  uint32_t max_queue_pairs_ = 1;
  uint32_t queues_ = 1;
  std::string mac_;  // when the device offers VIRTIO_NET_F_MAC
};

}  // namespace vnet::vhost_vdpa
