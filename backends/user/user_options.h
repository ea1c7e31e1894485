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
  in_addr server{};  // in the guest's network
  int port = 0;
  std::string target;  // what follows the '-': "cmd:...", "tcp:HOST:PORT", "unix:PATH"
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
  std::vector<HostForward> hostfwd;
  std::vector<GuestForward> guestfwd;
  // The order QEMU sets the forwards up in (its list is built by prepending:
  // guestfwd rules last to first, then hostfwd last to first); the first that
  // fails is the one its error names.
  struct Step {
    bool host;
    size_t index;
  };
  std::vector<Step> forward_order;
};

Result<UserPlan> plan_user(const qapi::NetdevUserOptions& options);

// QEMU's slirp_hostfwd() and slirp_guestfwd() syntax checks.
Result<HostForward> parse_hostfwd(const std::string& rule);
Result<GuestForward> parse_guestfwd(const std::string& rule);

}  // namespace vnet::user
