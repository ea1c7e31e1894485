// VduseDevice - a virtio-net vDPA device served from this process (VDUSE):
// the stand-in for a SmartNIC in the lab. It answers the kernel's control
// requests on a thread of its own from creation until destruction, so that
// `vdpa dev add ... mgmtdev vduse` (which waits for the answers) works.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::lab {

struct VduseNetConfig {
  std::array<uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x99};
  uint16_t mtu = 1500;
  uint16_t max_vqp = 1;
  bool link_up = true;
  uint16_t queue_size = 256;
};

class VduseDevice {
 public:
  static Result<std::unique_ptr<VduseDevice>> create(const std::string& name, const VduseNetConfig& config);
  ~VduseDevice();  // stops serving and destroys the device (delete the vDPA device on it first)
  VduseDevice(const VduseDevice&) = delete;
  VduseDevice& operator=(const VduseDevice&) = delete;

  const std::string& name() const { return name_; }
  uint64_t features() const { return features_; }
  int requests_served() const { return served_.load(); }

 private:
  VduseDevice(std::string name, UniqueFd control, UniqueFd device, UniqueFd stop, uint64_t features);
  void serve();

  std::string name_;
  UniqueFd control_;
  UniqueFd device_;
  UniqueFd stop_;  // an eventfd that ends the serving thread
  uint64_t features_;
  std::atomic<int> served_{0};
  std::thread thread_;
};

}  // namespace vnet::lab
