// vnetctl - the command line for vnetd, iproute2-like:
//   vnetctl [-s SOCKET] [-j] OBJECT VERB ...
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctl/cli/nic_command.h"
#include "ctl/cli/option_parser.h"
#include "ctl/cli/qmp_client.h"
#include "ctl/cli/udev_event.h"
#include "ctl/cli/vdpa_command.h"
#include "ctl/cli/vdpa_selftest_command.h"
#include "ctl/config/daemon_config.h"
#include "vnet/version.h"

namespace {

using json = nlohmann::ordered_json;
using vnet::cli::QmpClient;

constexpr const char* kUsage =
    "usage: vnetctl [-s SOCKET] [-j] OBJECT VERB ...   |   vnetctl --help | --version\n"
    "  netdev add TYPE,id=ID[,key=value...]   (QEMU's -netdev syntax)\n"
    "  netdev del ID\n"
    "  netdev show [ID]\n"
    "  link set NAME up|down\n"
    "  rx-filter show [NAME]\n"
    "  nic anti-spoof NAME on [--allow CIDR]... [--other allow|drop]\n"
    "  nic anti-spoof NAME off\n"
    "  announce [initial=MS] [max=MS] [rounds=N] [step=MS] [interfaces=A,B] [id=X]\n"
    "  vmm attach NIC qmp=PATH [device=ID] [driver=D] [bus=B] [hotplug=on|off]\n"
    "  vmm detach NIC\n"
    "  vmm show\n"
    "  udev                  (from udev rules: hands udev's environment to the daemon)\n"
    "  config check FILE     (offline: checks a --config file)\n"
    "  vdpa mgmtdev|dev ...  (offline: vDPA netlink; `vnetctl vdpa help`)\n"
    "  vdpa selftest DEV [frames N] [timeout MS]   (through vnetd: frames through a vDPA device)\n"
    "  events\n"
    "  qmp JSON\n"
    "SOCKET defaults to $VNETCTL_SOCKET, else /run/vnetctl/qmp.sock.\n";

int fail(const std::string& message) {
  std::fprintf(stderr, "vnetctl: %s\n", message.c_str());
  return 1;
}

// A command line vnetctl cannot read: status 2, as with no OBJECT at all.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "vnetctl: %s (see vnetctl -h)\n", message.c_str());
  return 2;
}

struct Cli {
  QmpClient& client;
  bool json_output;

  // Runs a command; prints its error and returns false if it failed.
  bool run(const std::string& command, const json& args, json* result = nullptr) {
    auto reply = client.execute(command, args);
    if (!reply) {
      fail(reply.error().message);
      return false;
    }
    if (!reply->ok()) {
      fail(reply->error_desc());
      return false;
    }
    if (result) *result = reply->message["return"];
    return true;
  }
};

std::string scalar_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A detail that counts something (frames, bytes, drops, errors, ...): shown
// on a line of its own after the configuration, as `ip -s link` does.
bool is_counter(const std::string& key, const json& value) {
  if (!value.is_number_integer()) return false;
  for (const char* word : {"frames", "bytes", "drops", "dropped", "passed", "errors", "packets", "connections",
                           "disconnects", "completed", "segmented", "logged", "updates", "count", "sends"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}

void print_netdev(const json& n) {
  std::string line = n["id"].get<std::string>() + ": " + n["type"].get<std::string>() + " link " +
                     (n["link-up"].get<bool>() ? "up" : "down");
  if (n.contains("peer")) line += " peer " + n["peer"].get<std::string>();
  if (n.contains("hubid")) line += " hub " + scalar_text(n["hubid"]);
  std::puts(line.c_str());
  if (!n.contains("details")) return;
  // The daemon's object comes in QEMU's hash order; shown in a fixed one:
  // configuration, then counters, each by name.
  std::map<std::string, std::string> configuration, counters;
  for (const auto& [key, value] : n["details"].items()) {
    (is_counter(key, value) ? counters : configuration)[key] = scalar_text(value);
  }
  for (const auto* group : {&configuration, &counters}) {
    if (group->empty()) continue;
    std::string text = "   ";
    for (const auto& [key, value] : *group) text += " " + key + " " + value;
    std::puts(text.c_str());
  }
}

void print_rx_filter(const json& f) {
  std::printf("%s: mac %s promiscuous %s unicast %s multicast %s vlan %s broadcast %s\n",
              f["name"].get<std::string>().c_str(), f["main-mac"].get<std::string>().c_str(),
              f["promiscuous"].get<bool>() ? "on" : "off", f["unicast"].get<std::string>().c_str(),
              f["multicast"].get<std::string>().c_str(), f["vlan"].get<std::string>().c_str(),
              f["broadcast-allowed"].get<bool>() ? "on" : "off");
  for (const char* table : {"unicast-table", "multicast-table"}) {
    if (!f[table].empty()) std::printf("    %s %s\n", table, f[table].dump().c_str());
  }
  size_t vlans = f["vlan-table"].size();
  if (vlans > 0 && vlans < 4096) std::printf("    vlan-table %s\n", f["vlan-table"].dump().c_str());
}

int netdev(Cli& cli, const std::vector<std::string>& words) {
  if (words.empty()) return fail("netdev: expected add, del or show");
  const std::string& verb = words[0];
  if (verb == "add" && words.size() == 2) {
    auto args = vnet::cli::parse_netdev(words[1]);
    if (!args) return fail(args.error().message);
    return cli.run("netdev_add", *args) ? 0 : 1;
  }
  if (verb == "del" && words.size() == 2) return cli.run("netdev_del", {{"id", words[1]}}) ? 0 : 1;
  if (verb == "show" && words.size() <= 2) {
    // One netdev is looked up by vnetd, not picked out of all of them here.
    json shown;
    if (!cli.run("query-netdevs", words.size() == 2 ? json{{"id", words[1]}} : json(nullptr), &shown)) return 1;
    if (cli.json_output) std::puts(shown.dump().c_str());
    else for (const auto& n : shown) print_netdev(n);
    return 0;
  }
  return fail("netdev: bad arguments (see vnetctl -h)");
}

void print_attachment(const json& a) {
  std::string line = a["nic"].get<std::string>() + ": " + a["state"].get<std::string>() + " qmp " +
                     a["qmp"].get<std::string>() + " device " + a["device"].get<std::string>() +
                     (a["connected"].get<bool>() ? " connected" : " disconnected") + " filter-updates " +
                     scalar_text(a["filter-updates"]);
  std::puts(line.c_str());
  std::string more = "   ";
  more += a["hotplug"].get<bool>() ? " hotplug on" : " hotplug off";
  for (const char* key : {"driver", "netdev", "bus"}) {
    if (a.contains(key)) more += std::string(" ") + key + " " + a[key].get<std::string>();
  }
  std::puts(more.c_str());
  if (a.contains("last-error")) std::printf("    last-error %s\n", a["last-error"].get<std::string>().c_str());
}

int vmm(Cli& cli, const std::vector<std::string>& words) {
  const std::string verb = words.empty() ? "" : words[0];
  if (verb == "attach" && words.size() >= 3) {
    vnet::cli::KeyValues pairs{{"nic", words[1]}};
    for (size_t i = 2; i < words.size(); i++) {
      auto eq = words[i].find('=');
      if (eq == std::string::npos) return fail("vmm attach: expected key=value, got '" + words[i] + "'");
      pairs.emplace_back(words[i].substr(0, eq), words[i].substr(eq + 1));
    }
    auto args = vnet::cli::parse_arguments(pairs, vnet::cli::command_arg_type("vmm-attach"));
    if (!args) return fail(args.error().message);
    return cli.run("vmm-attach", *args) ? 0 : 1;
  }
  if (verb == "detach" && words.size() == 2) return cli.run("vmm-detach", {{"nic", words[1]}}) ? 0 : 1;
  if (verb == "show" && words.size() == 1) {
    json attachments;
    if (!cli.run("query-vmm-attachments", nullptr, &attachments)) return 1;
    if (cli.json_output) std::puts(attachments.dump().c_str());
    else for (const auto& a : attachments) print_attachment(a);
    return 0;
  }
  return fail("usage: vnetctl vmm attach NIC qmp=PATH [device=ID] [driver=D] [bus=B] [hotplug=on|off] | "
              "vmm detach NIC | vmm show");
}

int run(Cli& cli, const std::string& object, const std::vector<std::string>& words) {
  if (object == "netdev") return netdev(cli, words);
  if (object == "vmm") return vmm(cli, words);
  if (object == "link") {
    if (words.size() != 3 || words[0] != "set" || (words[2] != "up" && words[2] != "down")) {
      return fail("usage: vnetctl link set NAME up|down");
    }
    return cli.run("set_link", {{"name", words[1]}, {"up", words[2] == "up"}}) ? 0 : 1;
  }
  if (object == "nic") {
    auto args = vnet::cli::anti_spoof_arguments(words);
    if (!args) return fail(args.error().message);
    return cli.run("set-anti-spoof", *args) ? 0 : 1;
  }
  if (object == "rx-filter") {
    if (words.empty() || words[0] != "show" || words.size() > 2) return fail("usage: vnetctl rx-filter show [NAME]");
    json args = words.size() == 2 ? json{{"name", words[1]}} : json(nullptr);
    json filters;
    if (!cli.run("query-rx-filter", args, &filters)) return 1;
    if (cli.json_output) std::puts(filters.dump().c_str());
    else for (const auto& f : filters) print_rx_filter(f);
    return 0;
  }
  if (object == "announce") {
    // QEMU's migration announce defaults.
    vnet::cli::KeyValues pairs{{"initial", "50"}, {"max", "550"}, {"rounds", "5"}, {"step", "100"}};
    for (const auto& word : words) {
      auto eq = word.find('=');
      if (eq == std::string::npos) return fail("announce: expected key=value, got '" + word + "'");
      std::string key = word.substr(0, eq);
      std::erase_if(pairs, [&](const auto& p) { return p.first == key; });
      pairs.emplace_back(key, word.substr(eq + 1));
    }
    auto args = vnet::cli::parse_arguments(pairs, vnet::cli::command_arg_type("announce-self"));
    if (!args) return fail(args.error().message);
    return cli.run("announce-self", *args) ? 0 : 1;
  }
  if (object == "events") {
    for (;;) {
      auto event = cli.client.next_event();
      if (!event) return fail(event.error().message);
      std::puts(event->dump().c_str());
      std::fflush(stdout);
    }
  }
  if (object == "qmp") {
    if (words.size() != 1) return fail("usage: vnetctl qmp JSON");
    auto reply = cli.client.raw(words[0]);
    if (!reply) return fail(reply.error().message);
    std::puts(reply->message.dump().c_str());
    return reply->ok() ? 0 : 1;
  }
  return fail("unknown object '" + object + "' (see vnetctl -h)");
}

// `__complete netdev-types`, `__complete netdev-keys TYPE` (from the
// schema vnetctl carries) and `__complete ids` (from the daemon; nothing when
// it does not answer). Status 2 for anything else.
int complete(const std::string& socket_path, const std::vector<std::string>& what) {
  if (what.size() == 1 && what[0] == "netdev-types") {
    for (const auto& type : vnet::cli::netdev_types()) std::puts(type.c_str());
    return 0;
  }
  if (what.size() == 2 && what[0] == "netdev-keys") {
    for (const auto& key : vnet::cli::netdev_keys(what[1])) {
      if (key != "type") std::puts(key.c_str());
    }
    return 0;
  }
  if (what.size() == 1 && what[0] == "ids") {
    auto client = QmpClient::connect(socket_path);
    if (!client) return 1;
    auto reply = client->execute("query-netdevs", nullptr);
    if (!reply || !reply->ok()) return 1;
    for (const auto& netdev : reply->message["return"]) std::puts(netdev["id"].get<std::string>().c_str());
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_socket = std::getenv("VNETCTL_SOCKET");
  std::string socket_path = env_socket && *env_socket ? env_socket : "/run/vnetctl/qmp.sock";
  bool json_output = false;
  std::vector<std::string> words;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (words.empty() && (arg == "-s" || arg == "--socket")) {
      if (i + 1 == argc) return usage_error("option " + arg + " needs a SOCKET path");
      socket_path = argv[++i];
    } else if (words.empty() && (arg == "-j" || arg == "--json")) {
      json_output = true;
    } else if (words.empty() && (arg == "-h" || arg == "--help")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (words.empty() && arg == "--version") {
      std::printf("vnetctl %s\n", vnet::kVersion);
      return 0;
    } else if (words.empty() && arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option '" + arg + "'");
    } else {
      words.push_back(arg);
    }
  }
  if (words.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // For shell/vnetctl.bash, not for people: words to complete, one a line.
  if (words[0] == "__complete") return complete(socket_path, {words.begin() + 1, words.end()});
  // Offline: vDPA over netlink, and config checks, need no daemon.
  if (words[0] == "vdpa" && words.size() >= 2 && words[1] == "selftest") {
    return vnet::cli::vdpa_selftest_command(socket_path, {words.begin() + 2, words.end()}, json_output);
  }
  if (words[0] == "vdpa") return vnet::cli::vdpa_command({words.begin() + 1, words.end()}, json_output);
  if (words[0] == "config") {
    if (words.size() != 3 || words[1] != "check") return fail("usage: vnetctl config check FILE");
    auto config = vnet::config::load(words[2]);
    if (!config) return fail(config.error().message);
    std::string allow = config->access_rules.empty()
                            ? ""
                            : ", " + std::to_string(config->access_rules.size()) + " access rules";
    std::printf("%s: %zu netdevs, %zu rules%s: ok\n", words[2].c_str(), config->netdevs.size(), config->rules.size(),
                allow.c_str());
    return 0;
  }
  // RUN+= from udev/: udev's environment, handed over in one call (the
  // daemon answers at once and applies its rules afterwards). An event that
  // cannot be sent is refused before the daemon is bothered.
  std::optional<json> udev_event;
  if (words[0] == "udev") {
    if (words.size() != 1) return usage_error("udev takes no arguments; it reads udev's environment");
    auto event = vnet::cli::udev_event_from_env([](const char* name) {
      const char* value = std::getenv(name);
      return std::string(value ? value : "");
    });
    if (!event) return fail(event.error().message);
    udev_event = std::move(*event);
  }
  auto client = QmpClient::connect(socket_path);
  if (!client) return fail(client.error().message);
  Cli cli{*client, json_output};
  if (udev_event) return cli.run("udev-event", *udev_event) ? 0 : 1;
  return run(cli, words[0], std::vector<std::string>(words.begin() + 1, words.end()));
}
