// The Success result of ADD (SPEC.md section 5) as one version-free type,
// read from and written as every version the plugin speaks, as libcni's
// types/100, types/040 and types/020 convert between them:
//   1.0.0, 1.1.0  interfaces{name, mac, mtu, sandbox, socketPath, pciID},
//                 ips{address, gateway, interface}, routes, dns
//   0.3.x, 0.4.0  the same without mtu, socketPath and pciID; each ip has
//                 "version" ("4" or "6")
//   0.1.0, 0.2.0  ip4 and ip6 {ip, gateway, routes} (the first address of
//                 each family), dns; at least one address
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_error.h"

namespace vnet::cni {

struct Interface {
  std::string name;
  std::string mac;
  std::optional<uint64_t> mtu;
  std::string sandbox;  // CNI_NETNS for an interface in the container; "" on the host
  std::string socket_path;
  std::string pci_id;
};

struct IpConfig {
  std::string address;  // CIDR, host bits kept ("10.1.0.5/16")
  std::string gateway;  // "" when none
  std::optional<int64_t> interface;  // index into interfaces
};

struct Route {
  std::string dst;  // CIDR
  std::string gw;   // "" when none
  int64_t mtu = 0;       // 0: none, as libcni omits it
  int64_t advmss = 0;
  int64_t priority = 0;
  std::optional<int64_t> table;
  std::optional<int64_t> scope;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
  bool empty() const { return nameservers.empty() && domain.empty() && search.empty() && options.empty(); }
};

struct SuccessResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;
};

// Reads a result of any supported version: its own "cniVersion", else
// fallback_version (a prevResult before 1.0.0 may carry none). Addresses,
// gateways and routes must be well-formed (code 6 otherwise).
Expected<SuccessResult> parse_result(const nlohmann::ordered_json& text, std::string_view fallback_version);
// A "dns" object (the configuration's, or a result's).
Expected<Dns> parse_dns(const nlohmann::ordered_json& dns);

// Writes result as version's format, with "cniVersion": version. 0.1.0 and
// 0.2.0 need an IP address (code 1 without one, as libcni's convertTo02x).
Expected<nlohmann::ordered_json> result_json(const SuccessResult& result, std::string_view version);

}  // namespace vnet::cni
