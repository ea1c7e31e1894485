#include "ctl/cni/attachment_result.h"

namespace vnet::cni {

SuccessResult build_add_result(const std::optional<SuccessResult>& prev, const Interface& tap,
                               const std::optional<SuccessResult>& ipam, const Dns& config_dns, size_t* index) {
  SuccessResult out = prev.value_or(SuccessResult{});
  *index = out.interfaces.size();
  out.interfaces.push_back(tap);
  if (ipam) {
    for (IpConfig ip : ipam->ips) {
      ip.interface = static_cast<int64_t>(*index);
      out.ips.push_back(std::move(ip));
    }
    out.routes.insert(out.routes.end(), ipam->routes.begin(), ipam->routes.end());
  }
  if (!config_dns.empty()) {
    out.dns = config_dns;
  } else if (ipam && !ipam->dns.empty()) {
    out.dns = ipam->dns;
  }
  return out;
}

std::optional<size_t> find_interface(const SuccessResult& prev, const std::string& ifname, const std::string& netns) {
  for (size_t i = 0; i < prev.interfaces.size(); i++) {
    if (prev.interfaces[i].name == ifname && prev.interfaces[i].sandbox == netns) return i;
  }
  return std::nullopt;
}

}  // namespace vnet::cni
