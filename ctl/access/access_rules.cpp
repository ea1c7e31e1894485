#include "ctl/access/access_rules.h"

#include "ctl/access/access_policy.h"
#include "qapi_commands.h"

namespace vnet::access {

namespace {

struct RuleError {
  std::string text;
};

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

// "FILE:LINE: key 'allow.uid': message", as the --config parser writes it.
[[noreturn]] void fail(const std::string& path, const toml::node& node, const std::string& key,
                       const std::string& message) {
  throw RuleError{where(path, node.source()) + ": key '" + key + "': " + message};
}

uint32_t id_of(const std::string& path, const toml::node& node, const std::string& key) {
  auto value = node.as_integer();
  if (!value || value->get() < 0 || value->get() > kMaxId) {
    fail(path, node, key, "expected a number from 0 to " + std::to_string(kMaxId));
  }
  return static_cast<uint32_t>(value->get());
}

std::string pattern_of(const std::string& path, const toml::node& node, bool owned) {
  const std::string key = "allow.commands";
  auto value = node.as_string();
  if (!value) fail(path, node, key, "expected a command name or a prefix ending in '*'");
  std::string pattern = value->get();
  if (pattern.empty()) fail(path, node, key, "an empty command name");
  size_t star = pattern.find('*');
  if (star != std::string::npos && star != pattern.size() - 1) {
    fail(path, node, key, "'" + pattern + "': '*' may only end a prefix");
  }
  if (star == std::string::npos) {
    // A misspelt name would allow nothing, silently.
    if (!qapi::find_command(pattern)) fail(path, node, key, "unknown command '" + pattern + "'");
    if (owned && !command_names_netdev(pattern)) {
      fail(path, node, key, "'" + pattern + "' names no netdev, so owned = true never allows it");
    }
  }
  return pattern;
}

AccessRule parse_rule(const std::string& path, const toml::table& table) {
  AccessRule rule;
  rule.where = where(path, table.source());
  const toml::node* commands = nullptr;
  for (const auto& [name, value] : table) {
    std::string key = "allow." + std::string(name.str());
    if (name == "uid") {
      rule.uid = id_of(path, value, key);
    } else if (name == "gid") {
      rule.gid = id_of(path, value, key);
    } else if (name == "commands") {
      commands = &value;
    } else if (name == "owned") {
      auto owned = value.as_boolean();
      if (!owned) fail(path, value, key, "expected true or false");
      rule.owned = owned->get();
    } else {
      fail(path, value, key, "unknown key (uid, gid, commands, owned)");
    }
  }
  if (rule.uid && rule.gid) fail(path, table, "allow", "give uid or gid, not both (two rules say both)");
  if (!rule.uid && !rule.gid) fail(path, table, "allow", "says whom it is for with uid = N or gid = N");
  if (!commands) fail(path, table, "allow.commands", "is required (names, or prefixes ending in '*')");
  auto array = commands->as_array();
  if (!array || array->empty()) {
    fail(path, *commands, "allow.commands", "expected a non-empty list of names or prefixes ending in '*'");
  }
  // After the loop: owned, wherever it stands in the table, decides how names are checked.
  for (const auto& element : *array) rule.commands.push_back(pattern_of(path, element, rule.owned));
  return rule;
}

// The checks after the TOML syntax: only [[allow]] tables.
std::vector<AccessRule> from_table(const toml::table& root, const std::string& path) {
  std::vector<AccessRule> rules;
  for (const auto& [name, value] : root) {
    auto array = value.as_array();
    if (name != "allow" || !array || !array->is_array_of_tables()) {
      fail(path, value, std::string(name.str()), "unknown (the file holds [[allow]] tables)");
    }
    for (const auto& element : *array) rules.push_back(parse_rule(path, *element.as_table()));
  }
  return rules;
}

template <typename ParseToml>
Result<std::vector<AccessRule>> checked(const std::string& path, ParseToml parse_toml) {
  try {
    return from_table(parse_toml(), path);
  } catch (const toml::parse_error& e) {
    return Error{EINVAL, where(path, e.source()) + ": " + std::string(e.description())};
  } catch (const RuleError& e) {
    return Error{EINVAL, e.text};
  }
}

}  // namespace

Result<AccessRule> parse_allow(const std::string& path, const toml::table& table) {
  try {
    return parse_rule(path, table);
  } catch (const RuleError& e) {
    return Error{EINVAL, e.text};
  }
}

Result<std::vector<AccessRule>> load_access_file(const std::string& path) {
  return checked(path, [&] { return toml::parse_file(path); });
}

Result<std::vector<AccessRule>> parse_access(std::string_view text, const std::string& path) {
  return checked(path, [&] { return toml::parse(text, path); });
}

bool command_matches(std::string_view pattern, std::string_view command) {
  if (!pattern.empty() && pattern.back() == '*') {
    return command.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1);
  }
  return pattern == command;
}

}  // namespace vnet::access
