#include "ctl/cni/ip_text.h"

#include <arpa/inet.h>

namespace vnet::cni {

size_t IpAddress::size() const { return family == AF_INET6 ? 16 : 4; }

std::optional<IpAddress> parse_ip(const std::string& text) {
  IpAddress out;
  out.family = text.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(out.family, text.c_str(), out.bytes.data()) != 1) return std::nullopt;
  out.prefix = out.family == AF_INET6 ? 128 : 32;
  return out;
}

std::optional<IpAddress> parse_cidr(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto out = parse_ip(text.substr(0, slash));
  if (!out) return std::nullopt;
  std::string digits = text.substr(slash + 1);
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  unsigned prefix = static_cast<unsigned>(std::stoul(digits));
  if (prefix > out->prefix) return std::nullopt;
  out->prefix = prefix;
  return out;
}

std::string format_ip(const IpAddress& address, bool with_prefix) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(address.family, address.bytes.data(), buf, sizeof(buf));
  return with_prefix ? std::string(buf) + "/" + std::to_string(address.prefix) : std::string(buf);
}

bool same_prefix(const IpAddress& a, const IpAddress& b, unsigned prefix) {
  if (a.family != b.family) return false;
  for (unsigned bit = 0; bit < prefix && bit < a.size() * 8; bit++) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace vnet::cni
