#include "ctl/cni/link_check.h"

#include <algorithm>
#include <cctype>

namespace vnet::cni {

namespace {

// RT_TABLE_MAIN (<linux/rtnetlink.h>): where a route without "table" goes.
constexpr uint32_t kMainTable = 254;

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool route_present(const std::vector<RouteState>& routes, const Route& expected, const IpAddress& dst) {
  return std::any_of(routes.begin(), routes.end(), [&](const RouteState& seen) {
    if (seen.dst.family != dst.family || seen.dst.prefix != dst.prefix) return false;
    if (!same_prefix(seen.dst, dst, dst.prefix)) return false;
    if (expected.table && seen.table != static_cast<uint32_t>(*expected.table)) return false;
    if (!expected.table && seen.table != kMainTable) return false;
    if (!expected.gw.empty()) {
      auto gw = parse_ip(expected.gw);
      if (!gw || seen.gw != format_ip(*gw, false)) return false;
    }
    return true;
  });
}

}  // namespace

std::vector<std::string> check_mismatches(const ObservedInterface& seen, const SuccessResult& prev, size_t index) {
  std::vector<std::string> out;
  const Interface& expected = prev.interfaces.at(index);
  if (!seen.link) {
    out.push_back("interface " + expected.name + " is not in " + expected.sandbox);
    return out;
  }
  if (!expected.mac.empty() && lower(expected.mac) != seen.link->mac) {
    out.push_back("mac is " + seen.link->mac + ", prevResult says " + expected.mac);
  }
  if (expected.mtu && *expected.mtu != seen.link->mtu) {
    out.push_back("mtu is " + std::to_string(seen.link->mtu) + ", prevResult says " + std::to_string(*expected.mtu));
  }
  if (!seen.link->up) out.push_back("the link is down");
  for (const auto& ip : prev.ips) {
    if (!ip.interface || *ip.interface != static_cast<int64_t>(index)) continue;
    auto address = parse_cidr(ip.address);
    if (!address) {
      out.push_back("prevResult's address " + ip.address + " is not in CIDR notation");
      continue;
    }
    if (std::find(seen.addresses.begin(), seen.addresses.end(), *address) == seen.addresses.end()) {
      out.push_back("address " + ip.address + " is not on " + expected.name);
    }
  }
  for (const auto& route : prev.routes) {
    auto dst = parse_cidr(route.dst);
    if (!dst) {
      out.push_back("prevResult's route dst " + route.dst + " is not in CIDR notation");
      continue;
    }
    if (!route_present(seen.routes, route, *dst)) {
      out.push_back("no route to " + route.dst + (route.gw.empty() ? "" : " via " + route.gw));
    }
  }
  return out;
}

}  // namespace vnet::cni
