#include "ctl/cni/cni_config.h"

#include <array>
#include <cctype>
#include <set>

#include "ctl/cni/cni_version.h"

namespace vnet::cni {

namespace {

struct CommandName {
  Command command;
  const char* name;
};
constexpr std::array<CommandName, 6> kCommands = {{{Command::add, "ADD"},
                                                   {Command::del, "DEL"},
                                                   {Command::check, "CHECK"},
                                                   {Command::status, "STATUS"},
                                                   {Command::version, "VERSION"},
                                                   {Command::gc, "GC"}}};

// libcni's utils.cniValidNameChars: [a-zA-Z0-9][a-zA-Z0-9_.\-]*, for
// container ids and network names.
bool valid_cni_name(const std::string& text) {
  if (text.empty() || !std::isalnum(static_cast<unsigned char>(text[0]))) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// libcni's utils.ValidateInterfaceName, after the kernel's dev_valid_name().
std::optional<std::string> interface_name_problem(const std::string& name) {
  if (name.size() > 15) return "interface name is too long (at most 15 bytes, IFNAMSIZ - 1)";
  if (name == "." || name == "..") return "interface name is . or ..";
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || std::isspace(c)) return "interface name contains / or : or whitespace characters";
  }
  return std::nullopt;
}

// Which variables the spec requires for each command (SPEC.md, "CNI
// operations"): ADD and CHECK the attachment and its namespace, DEL the
// attachment (the namespace may be gone), GC the plugin path.
std::vector<std::string> required_variables(Command command) {
  switch (command) {
    case Command::add:
    case Command::check:
      return {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"};
    case Command::del:
      return {"CNI_CONTAINERID", "CNI_IFNAME"};
    case Command::gc:
      return {"CNI_PATH"};
    case Command::status:
    case Command::version:
      return {};
  }
  return {};
}

// The configuration keys this plugin reads, and those the protocol or other
// conventions put there that it accepts and leaves alone (SPEC.md section 1:
// "capabilities", the list-level "cniVersions", "disableCheck", "disableGC").
const std::set<std::string, std::less<>> kKnownKeys = {
    "cniVersion", "cniVersions", "name",       "type",         "socket",        "queues",
    "mtu",        "mac",         "owner",      "group",        "vhost",         "dataDir",
    "open-by-name", "anti-spoof", "guest-mac", "ipam",         "dns",           "prevResult",
    "args",       "runtimeConfig", "capabilities", "disableCheck", "disableGC", "loadOnlyInlinedPlugins"};

std::string value_text(const json& value) { return value.dump(); }

tl::unexpected<CniError> invalid(const std::string& key, const json& value, const std::string& why) {
  return fail(kInvalidConfig, "invalid \"" + key + "\": " + value_text(value), why);
}

// An integer member in [min, max], or nullopt when absent.
Expected<std::optional<uint32_t>> bounded(const json& conf, const char* key, uint64_t min, uint64_t max,
                                          const std::string& what) {
  auto it = conf.find(key);
  if (it == conf.end() || it->is_null()) return std::optional<uint32_t>{};
  if (!it->is_number_integer()) return invalid(key, *it, what);
  if (it->is_number_unsigned()) {
    auto value = it->get<uint64_t>();
    if (value >= min && value <= max) return std::optional<uint32_t>(static_cast<uint32_t>(value));
  }
  return invalid(key, *it, what);
}

Expected<std::vector<AttachmentRef>> parse_attachment_list(const std::string& key, const json& list) {
  if (!list.is_array()) return invalid(key, list, "a list of {\"containerID\", \"ifname\"} objects");
  std::vector<AttachmentRef> out;
  for (const auto& entry : list) {
    if (!entry.is_object() || !entry.contains("containerID") || !entry["containerID"].is_string() ||
        !entry.contains("ifname") || !entry["ifname"].is_string()) {
      return invalid(key, entry, "each entry is {\"containerID\": string, \"ifname\": string}");
    }
    out.push_back({entry["containerID"].get<std::string>(), entry["ifname"].get<std::string>()});
  }
  return out;
}

// Keys that only make sense together, or not at all together.
Expected<void> check_combinations(const NetConf& conf) {
  if (conf.open_by_name && !conf.owner && !conf.group) {
    return invalid("open-by-name", true,
                   "needs \"owner\" or \"group\": vnetd holds none of the tap's queues, and only the tap's owner "
                   "or group may open them without CAP_NET_ADMIN");
  }
  if (conf.open_by_name && conf.vhost.value_or(false)) {
    return invalid("open-by-name", true,
                   "not with \"vhost\": vnetd hands vhost-net fds out with netdev-get-fds, which a tap opened by "
                   "name has none of; the VMM opens /dev/vhost-net itself");
  }
  if (conf.guest_mac && !conf.anti_spoof) {
    return invalid("guest-mac", *conf.guest_mac, "only with \"anti-spoof\": true (the MAC anti-spoofing allows)");
  }
  if (conf.anti_spoof && conf.ipam_type.empty()) {
    return invalid("anti-spoof", true,
                   "needs \"ipam\": the guest may send only from the IPAM's addresses, so without them it could "
                   "send no IP at all");
  }
  return {};
}

}  // namespace

std::optional<Command> command_from_name(std::string_view name) {
  for (const auto& entry : kCommands) {
    if (name == entry.name) return entry.command;
  }
  return std::nullopt;
}

const char* command_name(Command command) {
  for (const auto& entry : kCommands) {
    if (entry.command == command) return entry.name;
  }
  return "?";
}

Expected<CniEnv> parse_env(const std::map<std::string, std::string>& vars) {
  auto get = [&](const char* name) -> std::string {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
  CniEnv env;
  std::string command = get("CNI_COMMAND");
  if (command.empty()) return fail(kInvalidEnvironment, "required env variables [CNI_COMMAND] missing");
  auto parsed = command_from_name(command);
  if (!parsed) return fail(kInvalidEnvironment, "unknown CNI_COMMAND: " + command);
  env.command = *parsed;
  env.container_id = get("CNI_CONTAINERID");
  env.netns = get("CNI_NETNS");
  env.ifname = get("CNI_IFNAME");
  env.args = get("CNI_ARGS");
  env.path = get("CNI_PATH");

  std::string missing;
  for (const auto& name : required_variables(env.command)) {
    if (get(name.c_str()).empty()) missing += (missing.empty() ? "" : ",") + name;
  }
  if (!missing.empty()) return fail(kInvalidEnvironment, "required env variables [" + missing + "] missing");
  if (!env.container_id.empty() && !valid_cni_name(env.container_id)) {
    return fail(kInvalidEnvironment, "invalid characters in containerID (CNI_CONTAINERID)", env.container_id);
  }
  if (!env.ifname.empty()) {
    if (auto problem = interface_name_problem(env.ifname)) {
      return fail(kInvalidEnvironment, *problem + " (CNI_IFNAME)", env.ifname);
    }
  }
  if (!env.netns.empty() && env.netns[0] != '/') {
    return fail(kInvalidEnvironment, "CNI_NETNS is not an absolute path", env.netns);
  }
  if (auto args = parse_cni_args(env.args); !args) return tl::unexpected(args.error());
  return env;
}

Expected<std::vector<std::pair<std::string, std::string>>> parse_cni_args(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string pair = text.substr(start, end - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        return fail(kInvalidEnvironment, "CNI_ARGS: invalid pair \"" + pair + "\" (K=V;K2=V2 expected)");
      }
      out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

std::optional<std::string> normalize_mac(const std::string& text) {
  if (text.size() != 17) return std::nullopt;
  std::string out;
  bool all_zero = true;
  for (size_t i = 0; i < text.size(); i++) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    if (i % 3 == 2) {
      if (c != ':') return std::nullopt;
    } else {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
      if (c != '0') all_zero = false;
    }
    out += c;
  }
  // The multicast bit is the low bit of the first octet: the kernel refuses
  // such an address for an Ethernet device (eth_validate_addr()).
  int first = std::stoi(out.substr(0, 2), nullptr, 16);
  if ((first & 1) || all_zero) return std::nullopt;
  return out;
}

Expected<NetConf> parse_config(std::string_view text, Command command) {
  NetConf conf;
  conf.raw_text = std::string(text);
  conf.raw = json::parse(text, nullptr, false);
  if (conf.raw.is_discarded()) return fail(kDecodingFailure, "error unmarshalling network config: not JSON");
  if (!conf.raw.is_object()) return fail(kDecodingFailure, "error unmarshalling network config: not a JSON object");
  const json& raw = conf.raw;

  if (auto it = raw.find("cniVersion"); it != raw.end() && !it->is_null()) {
    if (!it->is_string()) return fail(kDecodingFailure, "cniVersion is not a string", it->dump());
    conf.cni_version = it->get<std::string>();
  }
  if (conf.cni_version.empty()) conf.cni_version = "0.1.0";  // libcni's create.DecodeVersion()
  if (!version_supported(conf.cni_version)) {
    return fail(kIncompatibleVersion, "incompatible CNI versions",
                "config is \"" + conf.cni_version + "\", plugin supports " + supported_versions_text());
  }
  // CHECK came with 0.4.0, GC and STATUS with 1.1.0 (libcni's skel refuses
  // older configurations the same way).
  const char* since = command == Command::check                                  ? "0.4.0"
                      : (command == Command::gc || command == Command::status) ? "1.1.0"
                                                                                : nullptr;
  if (since && !at_least(conf.cni_version, since)) {
    return fail(kIncompatibleVersion, std::string("config version does not allow ") + command_name(command),
                "config is \"" + conf.cni_version + "\"; " + command_name(command) + " needs " + since + " or later");
  }

  auto name = raw.find("name");
  if (name == raw.end() || !name->is_string() || name->get<std::string>().empty()) {
    return fail(kInvalidConfig, "missing network name");
  }
  conf.name = name->get<std::string>();
  if (!valid_cni_name(conf.name)) return fail(kInvalidConfig, "invalid characters found in network name", conf.name);
  if (auto type = raw.find("type"); type != raw.end() && type->is_string()) conf.type = type->get<std::string>();

  for (const auto& [key, value] : raw.items()) {
    if (kKnownKeys.count(key) || key.rfind("cni.dev/", 0) == 0) continue;
    return fail(kUnsupportedField, "unsupported field \"" + key + "\": " + value_text(value),
                "vnetctl-cni reads socket, queues, mtu, mac, owner, group, vhost, dataDir, open-by-name, "
                "anti-spoof, guest-mac, ipam and dns (docs/cni.md)");
  }

  if (auto it = raw.find("socket"); it != raw.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>()[0] != '/' ||
        it->get<std::string>().size() >= 108) {
      return invalid("socket", *it, "the absolute path of vnetd's QMP socket, shorter than 108 bytes");
    }
    conf.socket = it->get<std::string>();
  }
  // The tun driver's limits: MAX_TAP_QUEUES (256) queues, an MTU from
  // ETH_MIN_MTU (68) to ETH_MAX_MTU (65535); ids up to 4294967294 (-1 is the
  // kernel's "no id").
  auto queues = bounded(raw, "queues", 1, 256, "a number of queues from 1 to 256");
  if (!queues) return tl::unexpected(queues.error());
  conf.queues = *queues;
  auto mtu = bounded(raw, "mtu", 68, 65535, "an MTU from 68 to 65535");
  if (!mtu) return tl::unexpected(mtu.error());
  conf.mtu = *mtu;
  auto owner = bounded(raw, "owner", 0, 4294967294u, "a numeric uid from 0 to 4294967294");
  if (!owner) return tl::unexpected(owner.error());
  conf.owner = *owner;
  auto group = bounded(raw, "group", 0, 4294967294u, "a numeric gid from 0 to 4294967294");
  if (!group) return tl::unexpected(group.error());
  conf.group = *group;
  if (auto it = raw.find("vhost"); it != raw.end() && !it->is_null()) {
    if (!it->is_boolean()) return invalid("vhost", *it, "true or false");
    conf.vhost = it->get<bool>();
  }
  if (auto it = raw.find("mac"); it != raw.end() && !it->is_null()) {
    std::optional<std::string> mac;
    if (it->is_string()) mac = normalize_mac(it->get<std::string>());
    if (!mac) return invalid("mac", *it, "a unicast MAC address such as \"02:00:00:00:00:01\"");
    conf.mac = mac;
  }
  if (auto it = raw.find("dataDir"); it != raw.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().size() < 2 || it->get<std::string>()[0] != '/' ||
        it->get<std::string>().find('\0') != std::string::npos) {
      return invalid("dataDir", *it, "the absolute path of a directory for the plugin's records (not /)");
    }
    conf.data_dir = it->get<std::string>();
  }
  for (auto [key, flag] : {std::pair<const char*, bool*>{"open-by-name", &conf.open_by_name},
                           std::pair<const char*, bool*>{"anti-spoof", &conf.anti_spoof}}) {
    if (auto it = raw.find(key); it != raw.end() && !it->is_null()) {
      if (!it->is_boolean()) return invalid(key, *it, "true or false");
      *flag = it->get<bool>();
    }
  }
  if (auto it = raw.find("guest-mac"); it != raw.end() && !it->is_null()) {
    std::optional<std::string> mac;
    if (it->is_string()) mac = normalize_mac(it->get<std::string>());
    if (!mac) return invalid("guest-mac", *it, "a unicast MAC address such as \"52:54:00:12:34:56\"");
    conf.guest_mac = mac;
  }
  if (auto it = raw.find("ipam"); it != raw.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("ipam", *it, "an object with the IPAM plugin's \"type\"");
    // An empty ipam object means no IPAM, as libcni's IPAM.Type == "".
    if (!it->empty()) {
      auto type = it->find("type");
      if (type == it->end() || !type->is_string() || type->get<std::string>().empty() ||
          type->get<std::string>().find('/') != std::string::npos) {
        return invalid("ipam", *it, "\"type\" names the IPAM plugin's file in CNI_PATH (no '/')");
      }
      conf.ipam = *it;
      conf.ipam_type = type->get<std::string>();
    }
  }
  if (auto it = raw.find("dns"); it != raw.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("dns", *it, "an object (nameservers, domain, search, options)");
    conf.dns = *it;
  }
  if (auto it = raw.find("prevResult"); it != raw.end() && !it->is_null()) {
    if (!it->is_object()) return fail(kDecodingFailure, "could not parse prevResult: not an object", it->dump());
    conf.prev_result = *it;
  }
  if (auto it = raw.find("runtimeConfig"); it != raw.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("runtimeConfig", *it, "an object");
    conf.runtime_config = *it;
  }
  if (auto refused = check_combinations(conf); !refused) return tl::unexpected(refused.error());
  if (command == Command::gc) {
    for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
      auto it = raw.find(key);
      if (it == raw.end()) continue;
      auto list = parse_attachment_list(key, *it);
      if (!list) return tl::unexpected(list.error());
      conf.valid_attachments = std::move(*list);
      break;
    }
  }
  return conf;
}

Expected<std::optional<std::string>> effective_mac(const NetConf& conf, const CniEnv& env) {
  if (conf.runtime_config.is_object()) {
    if (auto it = conf.runtime_config.find("mac"); it != conf.runtime_config.end() && !it->is_null()) {
      std::optional<std::string> mac;
      if (it->is_string()) mac = normalize_mac(it->get<std::string>());
      if (!mac) return invalid("runtimeConfig.mac", *it, "a unicast MAC address such as \"02:00:00:00:00:01\"");
      return mac;
    }
  }
  auto args = parse_cni_args(env.args);
  if (!args) return tl::unexpected(args.error());
  for (const auto& [key, value] : *args) {
    if (key != "MAC") continue;
    auto mac = normalize_mac(value);
    if (!mac) return fail(kInvalidEnvironment, "CNI_ARGS: MAC=" + value + " is not a unicast MAC address");
    return mac;
  }
  return conf.mac;
}

}  // namespace vnet::cni
