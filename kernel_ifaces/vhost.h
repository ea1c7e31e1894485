// vhost - opening and checking vhost devices. The daemon never becomes the
// rings' owner (VHOST_SET_OWNER binds them to the calling process): it checks
// the device and hands the fd to the VMM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::vhost {

inline constexpr const char* kVhostNetPath = "/dev/vhost-net";

Result<UniqueFd> open_device(const std::string& path);
Result<uint64_t> get_features(int fd);  // VHOST_GET_FEATURES
Result<uint32_t> vdpa_device_id(int fd);  // VHOST_VDPA_GET_DEVICE_ID: the virtio device id (1: net)
// VHOST_VDPA_GET_CONFIG: len bytes of the device's virtio config space.
Result<std::vector<uint8_t>> vdpa_config(int fd, uint32_t offset, uint32_t len);

}  // namespace vnet::vhost
