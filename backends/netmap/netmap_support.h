// netmap - why vnetd builds no netmap netdev. netmap ports (NICs in netmap
// mode, VALE switch ports) are reached through the netmap device, which only
// the out-of-tree netmap kernel module creates; stock Linux kernels, Debian's
// included, have no /dev/netmap. QEMU built without netmap (Debian's 7.2)
// answers "network backend 'netmap' is not compiled into this binary"; vnetd
// says what is missing instead.
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::netmap {

inline constexpr const char* kDefaultDevice = "/dev/netmap";

// The error a netmap netdev on `device` (NetdevNetmapOptions.devname, default
// /dev/netmap) gets: ENOENT naming the missing device and the module it
// needs, or EOPNOTSUPP where the device exists, since vnetd has no netmap
// datapath.
Error unsupported(const std::string& device);

}  // namespace vnet::netmap
