#include "ctl/device_rules.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdio>

#include "kernel_ifaces/ethtool.h"

namespace vnet {

namespace {

bool glob(const std::string& pattern, const std::string& text) {
  return pattern.empty() || fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

void log(const std::string& message) { std::fprintf(stderr, "vnetd: rules: %s\n", message.c_str()); }

}  // namespace

void DeviceRules::handle(const std::string& action, const std::string& subsystem, const std::string& ifname) {
  events_++;
  if (subsystem != "net" || ifname.empty()) return;
  if (action == "add" || action == "change" || action == "move") device_added(ifname);
  else if (action == "remove") device_removed(ifname);
}

size_t DeviceRules::scan() {
  auto links = rtnl_.list_links();
  if (!links) {
    log("scanning links: " + links.error().message);
    return 0;
  }
  size_t applied = 0;
  for (const auto& link : *links) applied += device_added(link.name);
  return applied;
}

bool DeviceRules::matches(const config::DeviceMatch& match, const rtnl::Link& link) {
  if (!glob(match.ifname, link.name) || !glob(match.mac, link.mac)) return false;
  if (!match.kind.empty() && match.kind != link.kind) return false;
  if (!match.driver.empty()) {
    auto driver = ethtool::driver_name(link.name);
    if (!driver || *driver != match.driver) return false;
  }
  return true;
}

size_t DeviceRules::device_added(const std::string& ifname) {
  if (rules_.empty()) return 0;
  auto link = rtnl_.get_link(ifname);
  if (!link) return 0;  // gone again already
  size_t applied = 0;
  for (const auto& rule : rules_) {
    if (!matches(rule.match, *link)) continue;
    apply(rule, *link);
    applied++;
  }
  return applied;
}

void DeviceRules::apply(const config::DeviceRule& rule, const rtnl::Link& link) {
  const std::string& ifname = link.name;
  auto& adopted = adopted_[ifname];
  auto remember = [&adopted](const std::string& id) {
    if (std::find(adopted.begin(), adopted.end(), id) == adopted.end()) adopted.push_back(id);
  };
  std::string netdev_id;
  if (rule.netdev) {
    auto arguments = config::fill_template(*rule.netdev, ifname);
    netdev_id = arguments.value("id", "");
    if (arguments.value("type", "") == "tap") arguments["ifname"] = ifname;
    // Already ours (a restarted daemon re-adopted it, or a change event).
    if (commands_.has_netdev(netdev_id)) {
      remember(netdev_id);
    } else if (auto added = commands_.adopt_netdev(arguments, link); !added) {
      log(rule.where + ": adopting \"" + ifname + "\": " + added.error().message);
      return;
    } else {
      remember(netdev_id);
      log(rule.where + ": adopted \"" + ifname + "\" as netdev '" + netdev_id + "'");
    }
  }
  if (rule.nic) {
    auto arguments = config::fill_template(*rule.nic, ifname);
    arguments["netdev"] = netdev_id;
    std::string nic_id = arguments.value("id", "");
    if (!commands_.has_netdev(nic_id)) {
      if (auto added = commands_.adopt_netdev(arguments, std::nullopt); !added) {
        log(rule.where + ": NIC for \"" + ifname + "\": " + added.error().message);
      }
    }
    if (commands_.has_netdev(nic_id)) remember(nic_id);
  }
  rtnl::LinkChange change;
  if (!rule.bridge.empty()) {
    auto bridge = rtnl_.get_link(rule.bridge);
    if (!bridge) {
      log(rule.where + ": bridge \"" + rule.bridge + "\" for \"" + ifname + "\": " + bridge.error().message);
    } else if (link.master != bridge->ifindex) {
      change.master = bridge->ifindex;
      change.up = true;
    }
  }
  if (rule.mtu && link.mtu != *rule.mtu) change.mtu = rule.mtu;
  if (change.master || change.mtu) {
    if (auto changed = rtnl_.change_link(link.ifindex, change); !changed) {
      log(rule.where + ": \"" + ifname + "\": " + changed.error().message);
    }
  }
}

// What the rules adopted for the device goes, newest first (a NIC before
// the tap it is bound to).
void DeviceRules::device_removed(const std::string& ifname) {
  auto it = adopted_.find(ifname);
  if (it == adopted_.end()) return;
  for (auto id = it->second.rbegin(); id != it->second.rend(); ++id) {
    if (commands_.has_netdev(*id)) {
      commands_.remove_netdev(*id);
      log("\"" + ifname + "\" is gone: netdev '" + *id + "' removed");
    }
  }
  adopted_.erase(it);
}

}  // namespace vnet
