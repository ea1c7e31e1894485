// vdpa_genl - the kernel's "vdpa" generic-netlink family (<linux/vdpa.h>),
// through libnl-genl: management devices, vDPA devices (add, delete, list),
// their config space and per-queue vendor statistics. What `vdpa` (iproute2)
// does, as typed results. A failure carries the kernel's errno and the reason
// from its extended ack: `VDPA_CMD_DEV_DEL of "x": No such device (vdpa:
// device not found)`.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernel_ifaces/genl_socket.h"
#include "kernel_ifaces/result.h"

namespace vnet::vdpa {

using Mac = std::array<uint8_t, 6>;

// A management device: what can create vDPA devices (a SmartNIC's PF, or
// "vduse" for devices served from userspace).
struct MgmtDev {
  std::string bus;   // "" when it has none (vduse), else e.g. "pci"
  std::string name;  // "vduse", "0000:65:00.1"
  std::optional<uint64_t> classes;       // bit N: virtio device id N
  std::optional<uint32_t> max_vqs;
  std::optional<uint64_t> features;      // what its devices can offer
  std::string handle() const { return bus.empty() ? name : bus + "/" + name; }
};

struct Device {
  std::string name;
  std::string mgmtdev;  // handle: [bus/]name
  uint32_t device_id = 0;  // virtio device id: 1 net, 2 block
  std::optional<uint32_t> vendor_id;
  std::optional<uint32_t> max_vqs;
  std::optional<uint16_t> max_vq_size;
  std::optional<uint16_t> min_vq_size;
};

// A net device's config space as the kernel reports it.
struct NetConfig {
  std::string name;
  uint32_t device_id = 0;
  std::optional<Mac> mac;
  std::optional<uint16_t> status;  // VIRTIO_NET_S_*
  std::optional<uint16_t> max_vqp;
  std::optional<uint16_t> mtu;
  std::optional<uint64_t> negotiated_features;
};

struct QueueStats {
  std::string name;
  uint32_t queue_index = 0;
  std::optional<uint16_t> max_vqp;
  std::optional<uint64_t> negotiated_features;
  std::vector<std::pair<std::string, uint64_t>> vendor;  // name, value, in the kernel's order
};

struct NewDevice {
  std::string name;
  std::string mgmtdev;  // [bus/]name
  std::optional<Mac> mac;
  std::optional<uint16_t> mtu;
  std::optional<uint16_t> max_vqp;
};

class Genl {
 public:
  static Result<Genl> connect();  // fails with ENOENT when the family is absent (no vdpa module)

  Result<std::vector<MgmtDev>> mgmtdevs(const std::string& handle = "");
  Result<std::vector<Device>> devices(const std::string& name = "");
  Result<std::vector<NetConfig>> configs(const std::string& name = "");
  Result<QueueStats> vstats(const std::string& name, uint32_t queue_index);
  Result<void> add(const NewDevice& device);
  Result<void> remove(const std::string& name);

 private:
  explicit Genl(netlink::GenlSocket socket) : socket_(std::move(socket)) {}

  netlink::GenlSocket socket_;
};

// "52:54:00:12:34:56" -> bytes.
std::optional<Mac> parse_mac(const std::string& text);

}  // namespace vnet::vdpa
