// Parsing and formatting the allowed-ips of set-anti-spoof: IPv4 and IPv6
// prefixes in CIDR notation ("10.0.0.5/32", "2001:db8::/64"; a bare address
// is its host prefix).
#pragma once

#include <string>
#include <vector>

#include "ebpf/anti_spoof_program.h"
#include "kernel_ifaces/result.h"

namespace vnet::nic {

// Refuses, saying why: a malformed address, a length out of range or not a
// decimal number, bits set past the length ("10.0.0.5/24": 10.0.0.0/24 was
// meant, or 10.0.0.5/32).
Result<ebpf::IpPrefix> parse_ip_prefix(const std::string& text);
// Each of texts, or the first refusal, naming the member ("allowed-ips[2]").
Result<std::vector<ebpf::IpPrefix>> parse_ip_prefixes(const std::vector<std::string>& texts, const std::string& member);
std::string format_ip_prefix(const ebpf::IpPrefix& prefix);

}  // namespace vnet::nic
