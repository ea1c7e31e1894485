// DeviceMemory - how a virtio device in this process (the vhost-user back
// end) reaches its driver's memory: guest-physical ranges to host pointers,
// and the dirty log a live migration reads. The vhost-user memory table
// implements it; the device-side rings use it and nothing else, so that
// every address a driver gives is checked in one place.
#pragma once

#include <cstdint>
#include <span>

namespace vnet::virtio {

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // The host bytes of the longest prefix of guest-physical [gpa, gpa+len)
  // that lies inside one mapped region: empty when gpa itself is not mapped
  // (or len is 0). A caller that needs all of [gpa, gpa+len) asks again from
  // gpa + prefix.size(); a range that overflows 64 bits is not mapped.
  virtual std::span<uint8_t> translate_prefix(uint64_t gpa, uint64_t len) const = 0;
  // Marks guest-physical [gpa, gpa+len) dirty when the front end has turned
  // dirty logging on (VHOST_F_LOG_ALL); does nothing otherwise.
  virtual void log_write(uint64_t gpa, uint64_t len) = 0;
};

}  // namespace vnet::virtio
