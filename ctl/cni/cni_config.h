// What a CNI invocation gives the plugin: the CNI_* environment (SPEC.md,
// "Parameters") and the request configuration on stdin (SPEC.md, sections 1
// and 3), parsed and checked once, so that the commands only see values they
// can use. Refusals carry the spec's codes: 4 for the environment, 6 for
// JSON that does not decode, 1 for a version it does not speak, 2 for a key
// it does not know, 7 for a value it cannot use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_error.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

enum class Command { add, del, check, status, version, gc };

// "ADD" -> Command::add, ...; nullopt for anything else.
std::optional<Command> command_from_name(std::string_view name);
const char* command_name(Command command);

struct CniEnv {
  Command command = Command::version;
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS: a path; may be empty for DEL
  std::string ifname;        // CNI_IFNAME
  std::string args;          // CNI_ARGS as given ("K=V;K2=V2")
  std::string path;          // CNI_PATH (':'-separated directories)
};

// The variables the spec requires for env's command must be set and
// well-formed (container id and interface name as libcni's utils check them).
// vars holds the environment (absent and empty are the same, as in libcni).
Expected<CniEnv> parse_env(const std::map<std::string, std::string>& vars);

// CNI_ARGS "K=V;K2=V2" as pairs; a pair without '=' is refused (code 4).
Expected<std::vector<std::pair<std::string, std::string>>> parse_cni_args(const std::string& text);

// One entry of GC's cni.dev/valid-attachments.
struct AttachmentRef {
  std::string container_id;
  std::string ifname;
  bool operator==(const AttachmentRef&) const = default;
};

inline constexpr std::string_view kDefaultSocket = "/run/vnetctl/qmp.sock";
// Where the plugin keeps its own record of each attachment (attachment_store.h).
inline constexpr std::string_view kDefaultDataDir = "/var/lib/cni/vnetctl-cni";

// The plugin's configuration: the keys this plugin reads (docs/cni.md).
struct NetConf {
  std::string cni_version;  // "0.1.0" when the configuration has none, as libcni decodes it
  std::string name;         // the network
  std::string type;
  std::string socket{kDefaultSocket};
  std::optional<uint32_t> queues;
  std::optional<uint32_t> mtu;
  std::optional<std::string> mac;  // the configuration's own ("02:00:00:00:00:01", lower case)
  std::optional<uint32_t> owner;
  std::optional<uint32_t> group;
  std::optional<bool> vhost;
  std::string data_dir{kDefaultDataDir};  // "dataDir": the plugin's records
  // "open-by-name": the VMM opens the tap's queues by name (TUNSETIFF as its
  // owner or group), so vnetd holds none of them ("hold-queues": false).
  bool open_by_name = false;
  // "anti-spoof": a nic peered with the tap, with vnetd's anti-spoofing for
  // guest_mac (else the tap's MAC) and the IPAM's addresses.
  bool anti_spoof = false;
  std::optional<std::string> guest_mac;  // "guest-mac", lower case
  json ipam;               // the "ipam" object, or null
  std::string ipam_type;   // its "type"; empty when there is no ipam
  json dns;                // the "dns" object, or null
  json prev_result;        // "prevResult", or null
  json runtime_config;     // "runtimeConfig", or null
  // GC: cni.dev/valid-attachments (libcni also sends cni.dev/attachments).
  std::optional<std::vector<AttachmentRef>> valid_attachments;
  json raw;                // the whole request configuration as received
  std::string raw_text;    // and its bytes, handed to a delegate unchanged
};

// Parses and checks stdin's text for command (VERSION never gets here).
Expected<NetConf> parse_config(std::string_view text, Command command);

// The MAC to give the tap: runtimeConfig's "mac" (the `mac` capability), else
// CNI_ARGS' MAC, else the configuration's "mac", else none (the kernel picks).
Expected<std::optional<std::string>> effective_mac(const NetConf& conf, const CniEnv& env);

// A MAC text the kernel takes for a tap: six hex pairs, unicast, not all
// zero; nullopt otherwise. Returned in lower case.
std::optional<std::string> normalize_mac(const std::string& text);

}  // namespace vnet::cni
