// UserPlan - a user netdev's options checked as QEMU's net_init_slirp() and
// net_slirp_init() check them (same order, same texts), turned into what
// libslirp's SlirpConfig and its forwarding calls take.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"
#include "qapi_types.h"

namespace vnet::user {

struct HostForward {
  bool udp = false;
  sockaddr_in host{};   // address (0: any) and port
  sockaddr_in guest{};  // address (0: the first DHCP address) and port
  std::string rule;
};

struct GuestForward {
  in_addr server{};  // in the guest's network (0: slirp's default, net + 4)
  int port = 0;
  std::string target;  // what follows the '-': "cmd:...", or a chardev spec
  std::string rule;
};

// A guestfwd target other than cmd:, read as QEMU's chardev shorthand
// (qemu_chr_parse_compat) for the kinds vnetd opens itself: one host stream,
// opened when the netdev is added, that the guest's connections share.
struct GuestfwdTarget {
  enum class Kind { null, tcp, unix_socket };
  Kind kind = Kind::null;
  std::string host, port;  // tcp:HOST:PORT
  std::string path;        // unix:PATH
  bool nodelay = false;    // tcp's ",nodelay[=on|off]"
};

// One forwarding rule as given; QEMU checks a rule's syntax and sets it up
// before it looks at the next, so a request's first failing rule in this
// order (syntax or setup) is the one its error names.
struct ForwardRule {
  bool host;  // hostfwd, else guestfwd
  std::string rule;
};

struct UserPlan {
  bool restricted = false;
  bool ipv4 = true, ipv6 = true;
  in_addr net{}, mask{}, host{}, dhcp_start{}, dns{};
  in6_addr prefix6{}, host6{}, dns6{};
  int prefix6_len = 64;
  std::optional<std::string> hostname, tftp, bootfile, domainname, tftp_server_name, smb;
  std::optional<in_addr> smb_server;
  std::vector<std::string> dnssearch;
  std::vector<std::string> hostfwd;  // as given, for details()
  // QEMU's order (its list is built by prepending: guestfwd rules last to
  // first, then hostfwd last to first).
  std::vector<ForwardRule> forwards;
};

Result<UserPlan> plan_user(const qapi::NetdevUserOptions& options);

// QEMU's slirp_hostfwd() and slirp_guestfwd() syntax checks.
Result<HostForward> parse_hostfwd(const std::string& rule);
Result<GuestForward> parse_guestfwd(const std::string& rule);
// A guestfwd target that is not cmd:; `port` is the rule's guest port, which
// names the chardev in QEMU's errors ("guestfwd.tcp.PORT").
Result<GuestfwdTarget> parse_guestfwd_target(const std::string& target, int port);
// "Could not open guest forwarding device 'guestfwd.tcp.PORT'", QEMU's text
// for any chardev it cannot open; `why` (if any) follows it.
Error guestfwd_open_error(int port, int errnum, const std::string& why = {});

}  // namespace vnet::user
