// AccessPolicy - the layer every QMP request passes after its command is
// looked up and before it runs (Session::dispatch): root may do everything,
// any other peer only what an [[allow]] rule gives its uid or primary gid.
// A rule with owned = true allows a command only on a netdev whose tap the
// peer's uid owns; which netdev a request targets is read from its arguments
// through one table (request_targets()). docs/access.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/access/access_rules.h"

namespace vnet::access {

// Who is at the other end of a QMP connection (SO_PEERCRED at accept).
struct Peer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  pid_t pid = 0;
  // A session inside the daemon's own process (tests, fuzzers): root.
  static Peer in_process() { return Peer{0, 0, 0}; }
};

// The uid that owns a netdev: its tap's `owner` (for a NIC, its peer tap's);
// nullopt when the netdev does not exist or has no owner.
using OwnerLookup = std::function<std::optional<uint32_t>(const std::string& netdev)>;

// The netdevs a request names, from its raw arguments. nullopt: the command
// names none (or names them in a way that cannot be read, such as a missing
// or non-string argument), so an owned rule cannot allow it.
std::optional<std::vector<std::string>> request_targets(std::string_view command,
                                                        const nlohmann::ordered_json& arguments);
// True when the command takes a netdev in request_targets()' table.
bool command_names_netdev(std::string_view command);

class AccessPolicy {
 public:
  // No rules: root only.
  AccessPolicy() = default;
  explicit AccessPolicy(std::vector<AccessRule> rules) : rules_(std::move(rules)) {}
  // The policy of a daemon with neither --access nor rules in --config.
  static const AccessPolicy& root_only();

  void add(std::vector<AccessRule> rules);
  const std::vector<AccessRule>& rules() const { return rules_; }
  void set_owner_lookup(OwnerLookup lookup) { owners_ = std::move(lookup); }

  // Whether any rule is about this peer (root: always). A peer with none is
  // refused every command, qmp_capabilities included.
  bool admits(const Peer& peer) const;

  // nullopt when peer may run command with these arguments; otherwise the
  // whole error desc: "Permission denied: uid 1000 may not run ... (why)".
  // qmp_capabilities is allowed to every peer that admits() admits.
  std::optional<std::string> refusal(const Peer& peer, std::string_view command,
                                     const nlohmann::ordered_json& arguments) const;

 private:
  bool rule_is_for(const AccessRule& rule, const Peer& peer) const;
  bool owns_all(const Peer& peer, const std::vector<std::string>& netdevs) const;

  std::vector<AccessRule> rules_;
  OwnerLookup owners_;
};

}  // namespace vnet::access
