#include "kernel_ifaces/tun.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

namespace vnet::tun {

namespace {

std::string on(const char* op, int fd) { return std::string(op) + " on tun fd " + std::to_string(fd); }

template <typename T>
Result<void> ioctl_in(int fd, unsigned long request, const char* op, T value) {
  if (ioctl(fd, request, &value) < 0) return errno_error(on(op, fd));
  return {};
}

}  // namespace

Result<UniqueFd> open_device() {
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errno_error("opening /dev/net/tun");
  return fd;
}

Result<unsigned> get_features(int fd) {
  unsigned features = 0;
  if (ioctl(fd, TUNGETFEATURES, &features) < 0) return errno_error(on("TUNGETFEATURES", fd));
  return features;
}

Result<std::string> set_iff(int fd, const std::string& name, unsigned flags) {
  if (name.size() >= IFNAMSIZ) {
    return Error{EINVAL, "TUNSETIFF: interface name \"" + name + "\" is longer than 15 bytes"};
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_flags = static_cast<short>(flags);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return errno_error("TUNSETIFF on \"" + name + "\"");
  return std::string(ifr.ifr_name);
}

Result<IffInfo> get_iff(int fd) {
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return errno_error(on("TUNGETIFF", fd));
  return IffInfo{std::string(ifr.ifr_name), static_cast<unsigned short>(ifr.ifr_flags)};
}

Result<void> set_vnet_hdr_size(int fd, int size) { return ioctl_in(fd, TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", size); }

Result<int> get_vnet_hdr_size(int fd) {
  int size = 0;
  if (ioctl(fd, TUNGETVNETHDRSZ, &size) < 0) return errno_error(on("TUNGETVNETHDRSZ", fd));
  return size;
}

Result<void> set_offload(int fd, unsigned offload) {
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(offload)) < 0) return errno_error(on("TUNSETOFFLOAD", fd));
  return {};
}

std::optional<unsigned> offload_flag(std::string_view name) {
  if (name == "csum") return TUN_F_CSUM;
  if (name == "tso4") return TUN_F_TSO4;
  if (name == "tso6") return TUN_F_TSO6;
  if (name == "ecn") return TUN_F_TSO_ECN;
  if (name == "ufo") return TUN_F_UFO;
  return std::nullopt;
}

Result<void> set_queue(int fd, bool attach) {
  ifreq ifr{};
  ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd, TUNSETQUEUE, &ifr) < 0) return errno_error(on(attach ? "TUNSETQUEUE attach" : "TUNSETQUEUE detach", fd));
  return {};
}

Result<void> set_persist(int fd, bool persist) {
  if (ioctl(fd, TUNSETPERSIST, static_cast<unsigned long>(persist)) < 0) return errno_error(on("TUNSETPERSIST", fd));
  return {};
}

Result<void> set_carrier(int fd, bool carrier) { return ioctl_in(fd, TUNSETCARRIER, "TUNSETCARRIER", int(carrier)); }

Result<void> set_sndbuf(int fd, int bytes) { return ioctl_in(fd, TUNSETSNDBUF, "TUNSETSNDBUF", bytes); }

Result<void> set_filter_ebpf(int fd, int prog_fd) {
  return ioctl_in(fd, TUNSETFILTEREBPF, "TUNSETFILTEREBPF", prog_fd);
}

// The kernel reads the id as an unsigned long argument, not through a pointer.
Result<void> set_owner(int fd, uint32_t uid) {
  if (ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(uid)) < 0) {
    return errno_error(on(("TUNSETOWNER " + std::to_string(uid)).c_str(), fd));
  }
  return {};
}

Result<void> set_group(int fd, uint32_t gid) {
  if (ioctl(fd, TUNSETGROUP, static_cast<unsigned long>(gid)) < 0) {
    return errno_error(on(("TUNSETGROUP " + std::to_string(gid)).c_str(), fd));
  }
  return {};
}

}  // namespace vnet::tun
