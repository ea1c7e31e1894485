#include "ctl/config/daemon_config.h"

#include <toml++/toml.h>

#include "ctl/qapi/input_visitor.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/vdpa_genl.h"
#include "qapi_visit.h"

namespace vnet::config {

namespace {

using json = nlohmann::ordered_json;

struct ConfigError {
  std::string text;
};

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

[[noreturn]] void fail(const std::string& path, const toml::node& node, const std::string& key,
                       const std::string& message) {
  throw ConfigError{where(path, node.source()) + ": key '" + key + "': " + message};
}

// A TOML value as the JSON netdev_add would get.
json to_json(const std::string& path, const std::string& key, const toml::node& node) {
  if (auto v = node.as_string()) return v->get();
  if (auto v = node.as_integer()) return v->get();
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  if (auto array = node.as_array()) {
    json out = json::array();
    for (const auto& element : *array) out.push_back(to_json(path, key, element));
    return out;
  }
  if (auto table = node.as_table()) {
    json out = json::object();
    for (const auto& [name, value] : *table) out[std::string(name.str())] = to_json(path, std::string(name.str()), value);
    return out;
  }
  fail(path, node, key, "dates and times have no meaning here");
}

// Decodes arguments as netdev_add does; an error names the member it is about.
void check_netdev(const std::string& path, const toml::node& node, const std::string& key, const json& arguments) {
  auto decoded = qapi::decode_struct<qapi::Netdev>(arguments, qapi::visit_type_Netdev_members);
  if (decoded) return;
  const std::string& desc = decoded.error().desc;
  // "Parameter 'queues' expects ...": point at that key's own line.
  const toml::node* at = &node;
  if (auto quote = desc.find("Parameter '"); quote != std::string::npos) {
    std::string member = desc.substr(quote + 11, desc.find('\'', quote + 11) - quote - 11);
    if (auto table = node.as_table(); table && table->get(member)) at = table->get(member);
  }
  fail(path, *at, key, desc);
}

const toml::table& table_of(const std::string& path, const toml::node& node, const std::string& key) {
  auto table = node.as_table();
  if (!table) fail(path, node, key, "expected a table");
  return *table;
}

std::string string_of(const std::string& path, const toml::node& node, const std::string& key) {
  auto value = node.as_string();
  if (!value) fail(path, node, key, "expected a string");
  return value->get();
}

std::vector<std::string> strings_of(const std::string& path, const toml::node& node, const std::string& key) {
  auto array = node.as_array();
  if (!array) fail(path, node, key, "expected an array of strings");
  std::vector<std::string> out;
  for (const auto& element : *array) out.push_back(string_of(path, element, key));
  return out;
}

std::vector<std::string> absolute_dirs(const std::string& path, const toml::node& node, const std::string& key) {
  auto dirs = strings_of(path, node, key);
  for (const auto& dir : dirs) {
    if (dir.empty() || dir.front() != '/') fail(path, node, key, "'" + dir + "' is not an absolute path");
  }
  return dirs;
}

// [programs]: what clients may make vnetd run or serve (ctl/program_policy.h).
ProgramPolicy parse_programs(const std::string& path, const toml::table& table) {
  ProgramPolicy policy;
  for (const auto& [name, value] : table) {
    std::string key(name.str());
    if (key == "script-dirs") {
      policy.script_dirs = absolute_dirs(path, value, key);
    } else if (key == "helper-dirs") {
      policy.helper_dirs = absolute_dirs(path, value, key);
    } else if (key == "user-dirs") {
      policy.user_dirs = absolute_dirs(path, value, key);
    } else if (key == "vde-plugins") {
      policy.vde_plugins = strings_of(path, value, key);
    } else if (key == "user-guestfwd-cmd") {
      auto flag = value.as_boolean();
      if (!flag) fail(path, value, key, "expected true or false");
      policy.user_guestfwd_cmd = flag->get();
    } else if (key == "script-timeout-ms") {
      auto ms = value.as_integer();
      if (!ms || ms->get() < 1 || ms->get() > 600000) fail(path, value, key, "expected milliseconds, 1 to 600000");
      policy.script_timeout = std::chrono::milliseconds(ms->get());
    } else {
      fail(path, value, key,
           "unknown (known: script-dirs, helper-dirs, script-timeout-ms, vde-plugins, user-guestfwd-cmd, user-dirs)");
    }
  }
  return policy;
}

DeviceMatch parse_match(const std::string& path, const toml::table& table) {
  DeviceMatch match;
  for (const auto& [name, value] : table) {
    std::string key = "match." + std::string(name.str());
    std::string text = string_of(path, value, key);
    if (name == "subsystem") {
      if (text != "net" && text != "vdpa") fail(path, value, key, "subsystem \"net\" or \"vdpa\"");
      match.subsystem = text;
    } else if (name == "kind") {
      match.kind = text;
    } else if (name == "driver") {
      match.driver = text;
    } else if (name == "ifname") {
      match.ifname = text;
    } else if (name == "mac") {
      match.mac = text;
    } else if (name == "mgmtdev") {
      match.mgmtdev = text;
    } else if (name == "name") {
      match.name = text;
    } else {
      fail(path, value, key, "unknown key (subsystem, kind, driver, ifname, mac, mgmtdev, name)");
    }
  }
  return match;
}

std::optional<uint16_t> u16_of(const std::string& path, const toml::node& node, const std::string& key, int64_t low) {
  auto value = node.as_integer();
  if (!value || value->get() < low || value->get() > 65535) {
    fail(path, node, key, "expected a number from " + std::to_string(low) + " to 65535");
  }
  return static_cast<uint16_t>(value->get());
}

VdpaDevice parse_vdpa_device(const std::string& path, const toml::table& table) {
  VdpaDevice device;
  for (const auto& [name, value] : table) {
    std::string key = "rule.vdpa." + std::string(name.str());
    if (name == "name") {
      device.name = string_of(path, value, key);
    } else if (name == "mac") {
      device.mac = string_of(path, value, key);
      if (!vdpa::parse_mac(*device.mac)) fail(path, value, key, "expected a MAC address, as 52:54:00:12:34:56");
    } else if (name == "mtu") {
      device.mtu = u16_of(path, value, key, 68);
    } else if (name == "max_vqp") {
      device.max_vqp = u16_of(path, value, key, 1);
    } else {
      fail(path, value, key, "unknown key (name, mac, mtu, max_vqp)");
    }
  }
  if (device.name.empty()) fail(path, table, "rule.vdpa.name", "is required");
  return device;
}

DeviceRule parse_rule(const std::string& path, const toml::table& table) {
  DeviceRule rule;
  rule.where = where(path, table.source());
  bool has_action = false;
  for (const auto& [name, value] : table) {
    std::string key = "rule." + std::string(name.str());
    if (name == "match") {
      rule.match = parse_match(path, table_of(path, value, key));
    } else if (name == "netdev") {
      json arguments = to_json(path, key, table_of(path, value, key));
      if (arguments.contains("ifname")) fail(path, value, key + ".ifname", "is the matching device's own");
      // A type that is no string is no tap either (value() would throw on it).
      const json& given = arguments.contains("type") ? arguments["type"] : json();
      std::string type = given.is_string() ? given.get<std::string>() : "";
      if (type != "tap" && type != "bridge") {
        fail(path, value, key + ".type", "a rule adopts a device as a \"tap\" or \"bridge\" netdev");
      }
      // Checked as it will be used, for a sample device name.
      json sample = fill_template(arguments, "sample0");
      if (type == "tap") sample["ifname"] = "sample0";
      check_netdev(path, value, key, sample);
      rule.netdev = std::move(arguments);
      has_action = true;
    } else if (name == "nic") {
      json arguments = to_json(path, key, table_of(path, value, key));
      arguments["type"] = "nic";
      arguments["netdev"] = "sample0";
      check_netdev(path, value, key, fill_template(arguments, "sample0"));
      arguments.erase("netdev");
      rule.nic = std::move(arguments);
      has_action = true;
    } else if (name == "bridge") {
      rule.bridge = string_of(path, value, key);
      has_action = true;
    } else if (name == "mtu") {
      auto mtu = value.as_integer();
      if (!mtu || mtu->get() < 68 || mtu->get() > 65535) fail(path, value, key, "expected an MTU from 68 to 65535");
      rule.mtu = static_cast<unsigned>(mtu->get());
      has_action = true;
    } else if (name == "offloads") {
      auto array = value.as_array();
      if (!array) fail(path, value, key, "expected a list of offloads (csum, tso4, tso6, ecn, ufo)");
      rule.offloads.emplace();
      for (const auto& element : *array) {
        std::string offload = string_of(path, element, key);
        if (!tun::offload_flag(offload)) {
          fail(path, element, key, "unknown offload '" + offload + "' (csum, tso4, tso6, ecn, ufo)");
        }
        rule.offloads->push_back(offload);
      }
      has_action = true;
    } else if (name == "vdpa") {
      rule.vdpa = parse_vdpa_device(path, table_of(path, value, key));
      has_action = true;
    } else if (name == "driver") {
      rule.vdpa_driver = string_of(path, value, key);
      if (rule.vdpa_driver != "vhost_vdpa" && rule.vdpa_driver != "virtio_vdpa") {
        fail(path, value, key, "a vDPA driver: \"vhost_vdpa\" or \"virtio_vdpa\"");
      }
      has_action = true;
    } else {
      fail(path, value, key, "unknown key (match, netdev, nic, bridge, mtu, offloads, vdpa, driver)");
    }
  }
  bool vdpa_rule = rule.match.subsystem == "vdpa";
  if (vdpa_rule && (rule.netdev || rule.nic || !rule.bridge.empty() || rule.mtu || rule.offloads)) {
    fail(path, table, "rule", "a vdpa rule takes vdpa and driver, not netdev, nic, bridge or mtu");
  }
  if (!vdpa_rule && (rule.vdpa || !rule.vdpa_driver.empty())) {
    fail(path, table, "rule", "vdpa and driver need match.subsystem = \"vdpa\"");
  }
  if (!vdpa_rule && (!rule.match.mgmtdev.empty() || !rule.match.name.empty())) {
    fail(path, table, "rule.match", "mgmtdev and name match vdpa devices: set subsystem = \"vdpa\"");
  }
  if (rule.nic && !rule.netdev) fail(path, table, "rule.nic", "a NIC needs the rule's netdev to bind to");
  if (rule.offloads && !rule.netdev) fail(path, table, "rule.offloads", "offloads are set through the rule's netdev");
  if (!has_action) fail(path, table, "rule", "does nothing (give netdev, nic, bridge, mtu, vdpa or driver)");
  return rule;
}

}  // namespace

json fill_template(const json& value, const std::string& ifname) {
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    for (size_t at = text.find("{ifname}"); at != std::string::npos; at = text.find("{ifname}", at + ifname.size())) {
      text.replace(at, 8, ifname);
    }
    return text;
  }
  if (value.is_object() || value.is_array()) {
    json out = value;
    for (auto& element : out) element = fill_template(element, ifname);
    return out;
  }
  return value;
}

namespace {

// The checks after the TOML syntax: known keys, netdevs and rules.
Result<DaemonConfig> from_table(const toml::table& root, const std::string& path) {
  DaemonConfig config;
  try {
    for (const auto& [name, value] : root) {
      std::string key(name.str());
      if (key == "programs") {
        config.programs = parse_programs(path, table_of(path, value, key));
        continue;
      }
      auto array = value.as_array();
      if ((key != "netdev" && key != "rule" && key != "allow") || !array) {
        fail(path, value, key, "unknown (the file holds [[netdev]], [[rule]] and [[allow]] tables and [programs])");
      }
      for (const auto& element : *array) {
        const toml::table& table = table_of(path, element, key);
        if (key == "allow") {
          auto rule = access::parse_allow(path, table);
          if (!rule) throw ConfigError{rule.error().message};
          config.access_rules.push_back(std::move(*rule));
          continue;
        }
        if (key == "rule") {
          config.rules.push_back(parse_rule(path, table));
          continue;
        }
        json arguments = to_json(path, key, table);
        check_netdev(path, table, key, arguments);
        config.netdevs.push_back({where(path, table.source()), std::move(arguments)});
      }
    }
  } catch (const ConfigError& e) {
    return Error{EINVAL, e.text};
  }
  return config;
}

// parse_toml() gives the table, or throws the syntax error, named by file and line.
template <typename ParseToml>
Result<DaemonConfig> checked(const std::string& path, ParseToml parse_toml) {
  try {
    return from_table(parse_toml(), path);
  } catch (const toml::parse_error& e) {
    return Error{EINVAL, where(path, e.source()) + ": " + std::string(e.description())};
  }
}

}  // namespace

Result<DaemonConfig> load(const std::string& path) {
  return checked(path, [&] { return toml::parse_file(path); });
}

Result<DaemonConfig> parse(std::string_view text, const std::string& path) {
  return checked(path, [&] { return toml::parse(text, path); });
}

}  // namespace vnet::config
