// vdpa_sysfs - which driver a vDPA device is bound to, and switching it
// (/sys/bus/vdpa): vhost_vdpa gives /dev/vhost-vdpa-N for a VMM (or vnetd's
// self-test); virtio_vdpa makes it a host network device.
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::vdpa {

// "vhost_vdpa", "virtio_vdpa", or "" when unbound.
Result<std::string> bound_driver(const std::string& device);
// Unbinds from the current driver (if any) and binds to driver.
Result<void> bind_driver(const std::string& device, const std::string& driver);
// The /dev/vhost-vdpa-N of a device bound to vhost_vdpa.
Result<std::string> vhost_vdpa_node(const std::string& device);

}  // namespace vnet::vdpa
