// DaemonConfig - vnetd's --config FILE (TOML): netdevs to create at start,
// and rules that say what to do with devices as they appear (udev events, or
// the scan at start). Option names are netdev_add's; the same schema code
// checks them. Errors name the file, the line and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/access/access_rules.h"
#include "ctl/program_policy.h"
#include "kernel_ifaces/result.h"

namespace vnet::config {

// What a rule matches; an empty field matches anything. Globs as fnmatch(3).
struct DeviceMatch {
  std::string subsystem = "net";  // "net" or "vdpa"
  std::string kind;    // net: rtnetlink link kind: "tun", "veth", "bridge", ...
  std::string driver;  // net: ethtool's driver name: "tun", "veth", "virtio_net", ...
  std::string ifname;  // net: glob
  std::string mac;     // net: glob over "52:54:00:12:34:56"
  std::string mgmtdev; // vdpa: glob over a management device's handle, "vduse", "pci/0000:65:00.2"
  std::string name;    // vdpa: glob over a vDPA device's name
};

// A vDPA device a rule adds on a matching management device (as
// `vdpa dev add`): templates may use "{mgmtdev}" (its name, '/' and ':'
// made '-').
struct VdpaDevice {
  std::string name;
  std::optional<std::string> mac;
  std::optional<uint16_t> mtu;
  std::optional<uint16_t> max_vqp;
};

// What a rule does with a matching net device. Templates: "{ifname}" in a
// string value becomes the device's name.
struct DeviceRule {
  std::string where;  // "FILE:LINE", for logs and errors
  DeviceMatch match;
  // netdev_add arguments adopting the device (type tap/bridge; ifname is
  // the device's): the daemon then manages it as that netdev.
  std::optional<nlohmann::ordered_json> netdev;
  std::optional<nlohmann::ordered_json> nic;  // a NIC bound to that netdev
  std::string bridge;                         // enslave to this bridge
  std::optional<unsigned> mtu;
  // TUN_F_* names ("csum", "tso4", "tso6", "ecn", "ufo") to set on the
  // adopted tap's queues (TUNSETOFFLOAD); needs netdev (vnetd's queue fds).
  std::optional<std::vector<std::string>> offloads;
  // vdpa rules: a device to add on the matching management device, and the
  // driver (vhost_vdpa, virtio_vdpa) to bind it, or a matching device, to.
  std::optional<VdpaDevice> vdpa;
  std::string vdpa_driver;
};

struct ConfigNetdev {
  std::string where;
  nlohmann::ordered_json arguments;  // as netdev_add takes them
};

struct DaemonConfig {
  std::vector<ConfigNetdev> netdevs;
  std::vector<DeviceRule> rules;
  ProgramPolicy programs;  // [programs]; the defaults when the file has none
  // [[allow]]: who may use the QMP socket, as in an --access file.
  std::vector<access::AccessRule> access_rules;
};

// Parses and checks FILE: TOML syntax, known keys, every netdev (and rule
// template, with a sample ifname) through the schema's decoder, and every
// [[allow]] rule.
Result<DaemonConfig> load(const std::string& path);
// The same for a file's text (path names it in errors).
Result<DaemonConfig> parse(std::string_view text, const std::string& path);

// A rule's template with {ifname} filled in.
nlohmann::ordered_json fill_template(const nlohmann::ordered_json& value, const std::string& ifname);

}  // namespace vnet::config
