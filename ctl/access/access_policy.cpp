#include "ctl/access/access_policy.h"

#include <array>

namespace vnet::access {

namespace {

using json = nlohmann::ordered_json;

// Which argument of a command names the netdev(s) it acts on. A command not
// here names none: an owned rule never allows it. Keep this in step with the
// schema (ctl/schema/) when a command that acts on one netdev is added.
// set-anti-spoof is left out on purpose: it protects the host from a guest
// and its VMM, so owning a NIC's tap must not be enough to switch it off.
struct Target {
  std::string_view command;
  std::string_view argument;
  bool list = false;  // a list of names; absent or empty means "all of them"
};

constexpr std::array kTargets{
    Target{"netdev_del", "id"},
    Target{"netdev-get-fds", "id"},
    Target{"set_link", "name"},
    Target{"query-netdevs", "id"},      // absent: every netdev
    Target{"query-rx-filter", "name"},  // absent: every NIC's filter
    Target{"set-rx-filter", "name"},
    Target{"set-nic-features", "name"},
    Target{"set-announce-addresses", "name"},
    Target{"announce-self", "interfaces", true},
    Target{"vmm-attach", "nic"},
    Target{"vmm-detach", "nic"},
};

const Target* target_of(std::string_view command) {
  for (const auto& target : kTargets) {
    if (target.command == command) return &target;
  }
  return nullptr;
}

std::string peer_name(const Peer& peer) { return "uid " + std::to_string(peer.uid); }

std::string denied(const Peer& peer, std::string_view command, const std::string& why) {
  return "Permission denied: " + peer_name(peer) + " may not run " + std::string(command) + " (" + why + ")";
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> request_targets(std::string_view command, const json& arguments) {
  const Target* target = target_of(command);
  if (!target || !arguments.is_object()) return std::nullopt;
  auto it = arguments.find(std::string(target->argument));
  if (it == arguments.end()) return std::nullopt;
  std::vector<std::string> names;
  if (target->list) {
    if (!it->is_array() || it->empty()) return std::nullopt;
    for (const auto& element : *it) {
      if (!element.is_string()) return std::nullopt;
      names.push_back(element.get<std::string>());
    }
  } else {
    if (!it->is_string()) return std::nullopt;
    names.push_back(it->get<std::string>());
  }
  return names;
}

bool command_names_netdev(std::string_view command) { return target_of(command) != nullptr; }

const AccessPolicy& AccessPolicy::root_only() {
  static const AccessPolicy policy;
  return policy;
}

void AccessPolicy::add(std::vector<AccessRule> rules) {
  for (auto& rule : rules) rules_.push_back(std::move(rule));
}

bool AccessPolicy::rule_is_for(const AccessRule& rule, const Peer& peer) const {
  return (rule.uid && *rule.uid == peer.uid) || (rule.gid && *rule.gid == peer.gid);
}

bool AccessPolicy::admits(const Peer& peer) const {
  if (peer.uid == 0) return true;
  for (const auto& rule : rules_) {
    if (rule_is_for(rule, peer)) return true;
  }
  return false;
}

bool AccessPolicy::owns_all(const Peer& peer, const std::vector<std::string>& netdevs) const {
  if (!owners_) return false;
  for (const auto& netdev : netdevs) {
    auto owner = owners_(netdev);
    if (!owner || *owner != peer.uid) return false;
  }
  return true;
}

std::optional<std::string> AccessPolicy::refusal(const Peer& peer, std::string_view command,
                                                 const json& arguments) const {
  if (peer.uid == 0) return std::nullopt;
  if (rules_.empty()) return denied(peer, command, "vnetd has no access rules: only root may use this socket");
  if (!admits(peer)) {
    return denied(peer, command, "no access rule is for uid " + std::to_string(peer.uid) + " or gid " +
                                     std::to_string(peer.gid));
  }
  // Without it no client could get past the greeting.
  if (command == "qmp_capabilities") return std::nullopt;
  bool owned_rule_matched = false;
  for (const auto& rule : rules_) {
    if (!rule_is_for(rule, peer)) continue;
    bool matches = false;
    for (const auto& pattern : rule.commands) matches |= command_matches(pattern, command);
    if (!matches) continue;
    if (!rule.owned) return std::nullopt;
    owned_rule_matched = true;
    auto targets = request_targets(command, arguments);
    if (targets && owns_all(peer, *targets)) return std::nullopt;
  }
  if (!owned_rule_matched) return denied(peer, command, "no rule allows it");
  auto targets = request_targets(command, arguments);
  if (!targets) return denied(peer, command, "its rule is for owned netdevs, and this request names none");
  return denied(peer, command,
                "its rule is for owned netdevs: " + quoted_list(*targets) +
                    (targets->size() == 1 ? " is not a netdev" : " are not all netdevs") + " whose tap " +
                    peer_name(peer) + " owns");
}

}  // namespace vnet::access
