// tun - thin wrappers over /dev/net/tun and its ioctls (linux/if_tun.h).
// Each function is one kernel operation; errors name the operation and the
// device.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::tun {

// Opens /dev/net/tun (close-on-exec, non-blocking).
Result<UniqueFd> open_device();

// TUNGETFEATURES: the IFF_* flags this kernel's tun supports.
Result<unsigned> get_features(int fd);

// TUNSETIFF: attaches fd to the device (creating it when it does not exist).
// name may be a pattern such as "tap%d"; returns the device's name.
Result<std::string> set_iff(int fd, const std::string& name, unsigned flags);

struct IffInfo {
  std::string name;
  unsigned flags;  // IFF_TAP, IFF_VNET_HDR, IFF_MULTI_QUEUE, ...
};
// TUNGETIFF
Result<IffInfo> get_iff(int fd);

Result<void> set_vnet_hdr_size(int fd, int size);   // TUNSETVNETHDRSZ
Result<int> get_vnet_hdr_size(int fd);              // TUNGETVNETHDRSZ
Result<void> set_offload(int fd, unsigned offload); // TUNSETOFFLOAD (TUN_F_*)
// The TUN_F_* flag an offload's name stands for in vnetd's config ("csum",
// "tso4", "tso6", "ecn", "ufo"), or none.
std::optional<unsigned> offload_flag(std::string_view name);
Result<void> set_queue(int fd, bool attach);        // TUNSETQUEUE
Result<void> set_persist(int fd, bool persist);     // TUNSETPERSIST
Result<void> set_carrier(int fd, bool carrier);     // TUNSETCARRIER
Result<void> set_sndbuf(int fd, int bytes);         // TUNSETSNDBUF
Result<void> set_filter_ebpf(int fd, int prog_fd);  // TUNSETFILTEREBPF (-1 detaches)
// TUNSETOWNER / TUNSETGROUP: per device, through any of its queue fds. A
// process whose euid is the owner, or that has the group among its groups,
// may then TUNSETIFF the device without CAP_NET_ADMIN (tun_not_capable()).
Result<void> set_owner(int fd, uint32_t uid);
Result<void> set_group(int fd, uint32_t gid);

}  // namespace vnet::tun
