#include "backends/user/user_options.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

namespace vnet::user {

namespace {

Error invalid(std::string text) { return Error{EINVAL, std::move(text)}; }

// QEMU's get_str_sep(): the text up to sep (into a buffer of `size` bytes,
// truncated as pstrcpy), and p moved past it; nullopt if there is no sep.
std::optional<std::string> take_until(std::string_view& p, char sep, size_t size) {
  auto at = p.find(sep);
  if (at == std::string_view::npos) return std::nullopt;
  std::string part(p.substr(0, std::min(at, size - 1)));
  p.remove_prefix(at + 1);
  return part;
}

bool parse_ipv4(const std::string& text, in_addr& out) { return inet_aton(text.c_str(), &out) != 0; }

// qemu_strtoi(text, &end, 0, &out) as the rules use it: base 0, the whole
// text, an int.
bool parse_int(const std::string& text, int& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 0);
  if (errno || *end || value < INT32_MIN || value > INT32_MAX) return false;
  out = static_cast<int>(value);
  return true;
}

bool same_net6(const in6_addr& a, const in6_addr& b, int prefix_len) {
  for (int bit = 0; bit < prefix_len; bit++) {
    uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((a.s6_addr[bit / 8] & m) != (b.s6_addr[bit / 8] & m)) return false;
  }
  return true;
}

// The netmask QEMU derives from a bare network address (classful).
uint32_t classful_mask(uint32_t addr) {
  if (!(addr & 0x80000000)) return 0xff000000;
  if ((addr & 0xfff00000) == 0xac100000) return 0xfff00000;
  if ((addr & 0xc0000000) == 0x80000000) return 0xffff0000;
  if ((addr & 0xffff0000) == 0xc0a80000) return 0xffff0000;
  if ((addr & 0xffff0000) == 0xc6120000) return 0xfffe0000;
  if ((addr & 0xe0000000) == 0xe0000000) return 0xffffff00;
  return 0xfffffff0;
}

Result<void> plan_network(UserPlan& plan, const std::string& network) {
  std::string_view p = network;
  uint32_t net = 0, mask = 0;
  if (auto address = take_until(p, '/', 20)) {
    in_addr parsed{};
    if (!parse_ipv4(*address, parsed)) return invalid("Failed to parse netmask");
    net = ntohl(parsed.s_addr);
    std::string rest(p);
    char* end = nullptr;
    long shift = std::strtol(rest.c_str(), &end, 10);
    if (*end != '\0') {
      in_addr explicit_mask{};
      if (!parse_ipv4(rest, explicit_mask)) return invalid("Failed to parse netmask (trailing chars)");
      mask = ntohl(explicit_mask.s_addr);
    } else if (shift < 4 || shift > 32) {
      return invalid("Invalid netmask provided (must be in range 4-32)");
    } else {
      mask = shift == 32 ? 0xffffffffu : ~(0xffffffffu >> shift);
    }
  } else {
    in_addr parsed{};
    if (!parse_ipv4(network, parsed)) return invalid("Failed to parse netmask");
    net = ntohl(parsed.s_addr);
    mask = classful_mask(net);
  }
  net &= mask;
  plan.net.s_addr = htonl(net);
  plan.mask.s_addr = htonl(mask);
  plan.host.s_addr = htonl(net | (0x0202 & ~mask));
  plan.dhcp_start.s_addr = htonl(net | (0x020f & ~mask));
  plan.dns.s_addr = htonl(net | (0x0203 & ~mask));
  return {};
}

}  // namespace

Result<HostForward> parse_hostfwd(const std::string& rule) {
  HostForward forward;
  forward.rule = rule;
  forward.host.sin_family = forward.guest.sin_family = AF_INET;
  auto fail = [&](const char* reason) { return invalid("Invalid host forwarding rule '" + rule + "' (" + reason + ")"); };
  std::string_view p = rule;
  auto protocol = take_until(p, ':', 256);
  if (!protocol) return fail("No : separators");
  if (*protocol == "udp") forward.udp = true;
  else if (!protocol->empty() && *protocol != "tcp") return fail("Bad protocol name");
  auto host = take_until(p, ':', 256);
  if (!host) return fail("Missing : separator");
  if (!host->empty() && !parse_ipv4(*host, forward.host.sin_addr)) return fail("Bad host address");
  auto host_port_text = take_until(p, '-', 256);
  if (!host_port_text) return fail("Bad host port separator");
  int host_port = 0;
  if (!parse_int(*host_port_text, host_port) || host_port < 0 || host_port > 65535) return fail("Bad host port");
  forward.host.sin_port = htons(static_cast<uint16_t>(host_port));
  auto guest = take_until(p, ':', 256);
  if (!guest) return fail("Missing guest address");
  if (!guest->empty() && !parse_ipv4(*guest, forward.guest.sin_addr)) return fail("Bad guest address");
  int guest_port = 0;
  if (!parse_int(std::string(p), guest_port) || guest_port < 1 || guest_port > 65535) return fail("Bad guest port");
  forward.guest.sin_port = htons(static_cast<uint16_t>(guest_port));
  return forward;
}

Result<GuestForward> parse_guestfwd(const std::string& rule) {
  GuestForward forward;
  forward.rule = rule;
  auto fail = [&] { return invalid("Invalid guest forwarding rule '" + rule + "'"); };
  std::string_view p = rule;
  auto protocol = take_until(p, ':', 128);
  if (!protocol || (!protocol->empty() && *protocol != "tcp")) return fail();
  auto server = take_until(p, ':', 128);
  if (!server || (!server->empty() && !parse_ipv4(*server, forward.server))) return fail();
  auto port_text = take_until(p, '-', 128);
  if (!port_text) return fail();
  char* end = nullptr;
  long port = std::strtol(port_text->c_str(), &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) return fail();
  forward.port = static_cast<int>(port);
  forward.target = std::string(p);
  return forward;
}

Error guestfwd_open_error(int port, int errnum, const std::string& why) {
  std::string text = "Could not open guest forwarding device 'guestfwd.tcp." + std::to_string(port) + "'";
  if (!why.empty()) text += ": " + why;
  return Error{errnum, text};
}

namespace {

// QEMU's boolean option words (qapi_bool_parse); a bare name means on.
std::optional<bool> parse_on_off(std::string_view value) {
  if (value == "on" || value == "yes" || value == "true" || value == "y") return true;
  if (value == "off" || value == "no" || value == "false" || value == "n") return false;
  return std::nullopt;
}

}  // namespace

Result<GuestfwdTarget> parse_guestfwd_target(const std::string& target, int port) {
  GuestfwdTarget parsed;
  // Kinds QEMU's chardevs have and vnetd does not open: QEMU would take
  // these, so the answer says why vnetd does not.
  auto unsupported = [&] {
    return guestfwd_open_error(port, EOPNOTSUPP,
                               "vnetd has no chardevs; a guestfwd target is cmd:COMMAND, tcp:HOST:PORT[,nodelay], "
                               "unix:PATH or null");
  };
  // What QEMU refuses too gets its text alone.
  auto refused = [&] { return guestfwd_open_error(port, EINVAL); };
  std::string_view rest = target;
  std::string_view options;
  if (auto comma = rest.find(','); comma != std::string_view::npos) {
    options = rest.substr(comma + 1);
    rest = rest.substr(0, comma);
  }
  if (rest == "null") {
    if (!options.empty()) return refused();  // the null chardev has no options
    return parsed;
  }
  if (rest.rfind("unix:", 0) == 0) {
    parsed.kind = GuestfwdTarget::Kind::unix_socket;
    parsed.path = std::string(rest.substr(5));
    if (parsed.path.empty()) return refused();
    if (!options.empty()) return unsupported();  // server=, abstract=, ...
    return parsed;
  }
  if (rest.rfind("tcp:", 0) == 0) {
    parsed.kind = GuestfwdTarget::Kind::tcp;
    rest.remove_prefix(4);
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return refused();
    parsed.host = std::string(rest.substr(0, colon));
    parsed.port = std::string(rest.substr(colon + 1));
    // QEMU's client socket chardev needs both (an empty host does not connect).
    if (parsed.host.empty() || parsed.port.empty()) return refused();
    while (!options.empty()) {
      auto comma = options.find(',');
      std::string_view option = options.substr(0, comma);
      options = comma == std::string_view::npos ? std::string_view{} : options.substr(comma + 1);
      auto equals = option.find('=');
      std::string_view name = option.substr(0, equals);
      if (name != "nodelay") return unsupported();  // server=, reconnect=, tls-creds=, ...
      auto value =
          equals == std::string_view::npos ? std::optional<bool>(true) : parse_on_off(option.substr(equals + 1));
      if (!value) return refused();
      parsed.nodelay = *value;
    }
    return parsed;
  }
  return unsupported();
}

namespace {

// net_slirp_init()'s IPv4 checks, in its order: the network, then host,
// DNS, DHCP start and the SMB server inside it.
Result<void> plan_ipv4(UserPlan& plan, const qapi::NetdevUserOptions& options, const std::string& network) {
  if (auto planned = plan_network(plan, network); !planned) return planned;
  if (options.host && !parse_ipv4(*options.host, plan.host)) return invalid("Failed to parse host");
  if ((plan.host.s_addr & plan.mask.s_addr) != plan.net.s_addr) return invalid("Host doesn't belong to network");
  if (options.dns && !parse_ipv4(*options.dns, plan.dns)) return invalid("Failed to parse DNS");
  if (plan.restricted && (plan.dns.s_addr & plan.mask.s_addr) != plan.net.s_addr) {
    return invalid("DNS doesn't belong to network");
  }
  if (plan.dns.s_addr == plan.host.s_addr) return invalid("DNS must be different from host");
  if (options.dhcpstart && !parse_ipv4(*options.dhcpstart, plan.dhcp_start)) {
    return invalid("Failed to parse DHCP start address");
  }
  if ((plan.dhcp_start.s_addr & plan.mask.s_addr) != plan.net.s_addr) return invalid("DHCP doesn't belong to network");
  if (plan.dhcp_start.s_addr == plan.host.s_addr || plan.dhcp_start.s_addr == plan.dns.s_addr) {
    return invalid("DHCP must be different from host and DNS");
  }
  if (options.smbserver) {
    in_addr server{};
    if (!parse_ipv4(*options.smbserver, server)) return invalid("Failed to parse SMB address");
    plan.smb_server = server;
  }
  return {};
}

// ... and its IPv6 ones: the prefix, then host and DNS (by default ::2 and
// ::3 of the prefix).
Result<void> plan_ipv6(UserPlan& plan, const qapi::NetdevUserOptions& options) {
  if (inet_pton(AF_INET6, options.ipv6_prefix.value_or("fec0::").c_str(), &plan.prefix6) != 1) {
    return invalid("Failed to parse IPv6 prefix");
  }
  int64_t prefix_len = options.ipv6_prefixlen.value_or(0);
  if (prefix_len == 0) prefix_len = 64;  // QEMU: 0 means the default
  if (prefix_len < 0 || prefix_len > 126) {
    return invalid("Invalid IPv6 prefix provided (IPv6 prefix length must be between 0 and 126)");
  }
  plan.prefix6_len = static_cast<int>(prefix_len);
  if (options.ipv6_host) {
    if (inet_pton(AF_INET6, options.ipv6_host->c_str(), &plan.host6) != 1) return invalid("Failed to parse IPv6 host");
    if (!same_net6(plan.prefix6, plan.host6, plan.prefix6_len)) return invalid("IPv6 Host doesn't belong to network");
  } else {
    plan.host6 = plan.prefix6;
    plan.host6.s6_addr[15] |= 2;
  }
  if (options.ipv6_dns) {
    if (inet_pton(AF_INET6, options.ipv6_dns->c_str(), &plan.dns6) != 1) return invalid("Failed to parse IPv6 DNS");
    if (plan.restricted && !same_net6(plan.prefix6, plan.dns6, plan.prefix6_len)) {
      return invalid("IPv6 DNS doesn't belong to network");
    }
  } else {
    plan.dns6 = plan.prefix6;
    plan.dns6.s6_addr[15] |= 3;
  }
  return {};
}

// ... and the names it hands the guest.
Result<void> check_names(const qapi::NetdevUserOptions& options) {
  if (options.domainname && options.domainname->empty()) return invalid("'domainname' parameter cannot be empty");
  if (options.domainname && options.domainname->size() > 255) {
    return invalid("'domainname' parameter cannot exceed 255 bytes");
  }
  if (options.hostname && options.hostname->size() > 255) {
    return invalid("'vhostname' parameter cannot exceed 255 bytes");
  }
  if (options.tftp_server_name && options.tftp_server_name->size() > 255) {
    return invalid("'tftp-server-name' parameter cannot exceed 255 bytes");
  }
  return {};
}

}  // namespace

Result<UserPlan> plan_user(const qapi::NetdevUserOptions& options) {
  UserPlan plan;
  // net_init_slirp(): ipv4=on alone turns IPv6 off, and the reverse.
  if ((options.ipv6 && *options.ipv6 && !options.ipv4) || (options.ipv4 && !*options.ipv4)) plan.ipv4 = false;
  if ((options.ipv4 && *options.ipv4 && !options.ipv6) || (options.ipv6 && !*options.ipv6)) plan.ipv6 = false;
  plan.restricted = options.restrict.value_or(false);
  std::optional<std::string> network = options.net ? options.net
                                       : options.ip ? std::optional<std::string>(*options.ip + "/24")
                                                    : std::nullopt;
  // net_slirp_init(), its checks in its order.
  if (!plan.ipv4 && (network || options.host || options.dns)) {
    return invalid("IPv4 disabled but netmask/host/dns provided");
  }
  if (!plan.ipv6 && (options.ipv6_prefix || options.ipv6_host || options.ipv6_dns)) {
    return invalid("IPv6 disabled but prefix/host6/dns6 provided");
  }
  if (!plan.ipv4 && !plan.ipv6) return invalid("IPv4 and IPv6 disabled");
  if (auto planned = plan_ipv4(plan, options, network.value_or("10.0.2.0/24")); !planned) return planned.take_error();
  if (auto planned = plan_ipv6(plan, options); !planned) return planned.take_error();
  if (auto named = check_names(options); !named) return named.take_error();
  plan.hostname = options.hostname;
  plan.tftp = options.tftp;
  plan.bootfile = options.bootfile;
  plan.domainname = options.domainname;
  plan.tftp_server_name = options.tftp_server_name;
  plan.smb = options.smb;
  for (const auto& name : options.dnssearch.value_or(std::vector<qapi::String>{})) plan.dnssearch.push_back(name.str);
  // The forwarding rules are parsed and set up one by one by UserBackend,
  // since QEMU tells a rule's setup failure before a later rule's syntax.
  const auto& hostfwd = options.hostfwd.value_or(std::vector<qapi::String>{});
  const auto& guestfwd = options.guestfwd.value_or(std::vector<qapi::String>{});
  for (size_t i = guestfwd.size(); i-- > 0;) plan.forwards.push_back({false, guestfwd[i].str});
  for (size_t i = hostfwd.size(); i-- > 0;) plan.forwards.push_back({true, hostfwd[i].str});
  for (const auto& rule : hostfwd) plan.hostfwd.push_back(rule.str);
  return plan;
}

}  // namespace vnet::user
