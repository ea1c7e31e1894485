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
  // Loop frames back: each frame the driver sends on queue 1 comes back on
  // queue 0 (the vDPA self-test's device). Off: sent frames are taken and
  // dropped.
  bool echo = true;
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
  int frames_looped() const { return looped_.load(); }

 private:
  VduseDevice(std::string name, UniqueFd control, UniqueFd device, UniqueFd stop, uint64_t features, bool echo);
  void serve();
  // The loopback datapath, from DRIVER_OK to reset.
  struct Queue {
    uint64_t desc = 0, driver = 0, device = 0;
    uint32_t num = 0;
    uint16_t last_avail = 0, used = 0;
    UniqueFd kick;
  };
  bool start_datapath();
  void stop_datapath();
  uint8_t* at(uint64_t iova, size_t length);
  void move_frames();

  std::string name_;
  UniqueFd control_;
  UniqueFd device_;
  UniqueFd stop_;  // an eventfd that ends the serving thread
  uint64_t features_;
  bool echo_;
  std::atomic<int> served_{0};
  std::atomic<int> looped_{0};
  bool running_ = false;
  Queue queues_[2];  // rx, tx
  uint8_t* map_ = nullptr;  // the driver's memory: IOVAs [map_start_, map_last_]
  size_t map_size_ = 0;
  uint64_t map_start_ = 0, map_last_ = 0;
  std::thread thread_;
};

}  // namespace vnet::lab
