#include "backends/nic/ip_prefix.h"

#include <arpa/inet.h>

#include <cerrno>

namespace vnet::nic {

Result<ebpf::IpPrefix> parse_ip_prefix(const std::string& text) {
  auto refuse = [&](const std::string& why) { return Error{EINVAL, "'" + text + "' is not a CIDR prefix: " + why}; };
  ebpf::IpPrefix prefix;
  size_t slash = text.find('/');
  std::string address = text.substr(0, slash);
  prefix.v6 = address.find(':') != std::string::npos;
  if (inet_pton(prefix.v6 ? AF_INET6 : AF_INET, address.c_str(), prefix.addr.data()) != 1) {
    return refuse(std::string("not an IPv") + (prefix.v6 ? "6" : "4") + " address");
  }
  unsigned max = prefix.v6 ? 128 : 32;
  unsigned length = max;
  if (slash != std::string::npos) {
    std::string digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) {
      return refuse("the prefix length is not a number");
    }
    length = static_cast<unsigned>(std::stoul(digits));
    if (length > max) return refuse("the prefix length is over " + std::to_string(max));
  }
  prefix.length = static_cast<uint8_t>(length);
  for (unsigned bit = length; bit < max; bit++) {
    if (prefix.addr[bit / 8] & (0x80 >> (bit % 8))) return refuse("bits are set past the prefix length");
  }
  return prefix;
}

Result<std::vector<ebpf::IpPrefix>> parse_ip_prefixes(const std::vector<std::string>& texts,
                                                      const std::string& member) {
  std::vector<ebpf::IpPrefix> out;
  for (size_t i = 0; i < texts.size(); i++) {
    auto prefix = parse_ip_prefix(texts[i]);
    if (!prefix) return Error{EINVAL, member + "[" + std::to_string(i) + "]: " + prefix.error().message};
    out.push_back(*prefix);
  }
  return out;
}

std::string format_ip_prefix(const ebpf::IpPrefix& prefix) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(prefix.v6 ? AF_INET6 : AF_INET, prefix.addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(prefix.length);
}

}  // namespace vnet::nic
