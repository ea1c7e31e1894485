// DeviceRules - applies --config's rules to net devices as they appear
// (udev-event, or the scan at start) and undoes what it adopted when they go.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctl/commands/vnetd_commands.h"
#include "ctl/config/daemon_config.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/vdpa_genl.h"

namespace vnet {

class DeviceRules {
 public:
  DeviceRules(std::vector<config::DeviceRule> rules, VnetdCommands& commands, rtnl::Rtnl& rtnl)
      : rules_(std::move(rules)), commands_(commands), rtnl_(rtnl) {}

  // What a udev event means here: add/change apply the rules, remove undoes.
  void handle(const std::string& action, const std::string& subsystem, const std::string& ifname);
  // Every link there is, as if it had just appeared (a daemon started after
  // the devices); returns how many rules were applied.
  size_t scan();
  size_t events() const { return events_; }

 private:
  // Applies every matching rule to the device; returns how many matched.
  size_t device_added(const std::string& ifname);
  void device_removed(const std::string& ifname);
  // vdpa rules: devices to add on matching management devices, drivers to
  // bind matching devices to.
  size_t scan_vdpa();
  size_t vdpa_device_appeared(const std::string& name);
  vdpa::Genl* genl();
  bool matches(const config::DeviceMatch& match, const rtnl::Link& link);
  void apply(const config::DeviceRule& rule, const rtnl::Link& link);

  std::vector<config::DeviceRule> rules_;
  VnetdCommands& commands_;
  rtnl::Rtnl& rtnl_;
  std::map<std::string, std::vector<std::string>> adopted_;  // ifname -> netdev ids, in the order added
  size_t events_ = 0;
  std::optional<vdpa::Genl> genl_;
  bool genl_tried_ = false;
};

}  // namespace vnet
