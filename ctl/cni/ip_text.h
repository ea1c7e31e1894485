// IP addresses as CNI results write them: "10.1.0.5/16" (an address with its
// prefix length, host bits kept: the interface's address and its subnet)
// and "10.1.0.1" (a gateway).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace vnet::cni {

struct IpAddress {
  int family = 0;                  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // the first 4 for IPv4
  unsigned prefix = 0;             // 32 or 128 for a plain address
  size_t size() const;             // 4 or 16
  bool operator==(const IpAddress&) const = default;
};

// "ADDR/LEN", host bits allowed; nullopt if malformed.
std::optional<IpAddress> parse_cidr(const std::string& text);
// "ADDR" alone.
std::optional<IpAddress> parse_ip(const std::string& text);
// Canonical text, "ADDR/LEN" (with_prefix) or "ADDR".
std::string format_ip(const IpAddress& address, bool with_prefix);
// Whether the first prefix bits of a and b agree (same family).
bool same_prefix(const IpAddress& a, const IpAddress& b, unsigned prefix);

}  // namespace vnet::cni
