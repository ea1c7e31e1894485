// vdpa_selftest - a vhost-vdpa device's datapath checked without a VM: this
// process becomes the device's driver (VHOST_SET_OWNER), maps memory of its own
// for rings and buffers (IOTLB messages), brings the device up as a virtio-net
// driver would, sends test frames on each queue pair's transmit queue and
// checks they come back on its receive queue, byte for byte. For devices that
// loop frames back: loopback-capable NICs, or the lab's VDUSE device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet::vdpa {

struct SelftestOptions {
  int frames = 8;          // per queue pair
  int timeout_ms = 2000;   // for all of a queue pair's frames to come back
  int frame_size = 1514;
};

struct QueuePairResult {
  int queue_pair = 0;
  int sent = 0, received = 0, matched = 0;
  std::string error;  // empty when every frame came back equal
};

// vhost_path: /dev/vhost-vdpa-N. An Error when the test cannot run (not a
// net device, busy, refused a step); otherwise one result per queue pair.
Result<std::vector<QueuePairResult>> run_selftest(const std::string& vhost_path, const SelftestOptions& options);

}  // namespace vnet::vdpa
