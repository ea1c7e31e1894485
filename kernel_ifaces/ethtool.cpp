#include "kernel_ifaces/ethtool.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::ethtool {

Result<std::string> driver_name(const std::string& ifname) {
  if (ifname.size() >= IFNAMSIZ) return Error{EINVAL, "\"" + ifname + "\": name too long"};
  // Any socket of this namespace carries SIOCETHTOOL.
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket for SIOCETHTOOL");
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq request{};
  std::memcpy(request.ifr_name, ifname.c_str(), ifname.size());
  request.ifr_data = reinterpret_cast<char*>(&info);
  if (ioctl(fd.get(), SIOCETHTOOL, &request) < 0) return errno_error("ETHTOOL_GDRVINFO on \"" + ifname + "\"");
  return std::string(info.driver, strnlen(info.driver, sizeof info.driver));
}

}  // namespace vnet::ethtool
