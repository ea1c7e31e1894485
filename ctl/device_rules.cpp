#include "ctl/device_rules.h"
#include "kernel_ifaces/utf8.h"

#include <fnmatch.h>

#include <algorithm>

#include "kernel_ifaces/ethtool.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/vdpa_sysfs.h"

namespace vnet {

namespace {

bool glob(const std::string& pattern, const std::string& text) {
  return pattern.empty() || fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace

void DeviceRules::handle(const std::string& action, const std::string& subsystem, const std::string& ifname) {
  events_++;
  if (subsystem == "vdpa") {
    // DEVPATH ends in the device's name: /devices/.../vdpa0.
    std::string name = ifname.substr(ifname.rfind('/') + 1);
    if (!name.empty() && (action == "add" || action == "bind" || action == "unbind")) vdpa_device_appeared(name);
    return;
  }
  if (subsystem != "net" || ifname.empty()) return;
  if (!valid_utf8(ifname)) {
    return log::warning("rules: a net device whose name is not valid UTF-8 is left alone (QMP cannot name it)");
  }
  if (action == "add" || action == "change" || action == "move") device_added(ifname);
  else if (action == "remove") device_removed(ifname);
}

size_t DeviceRules::scan() {
  size_t applied = scan_vdpa();
  auto links = rtnl_.list_links();
  if (!links) {
    log::error("rules: scanning links: " + links.error().message);
    return applied;
  }
  for (const auto& link : *links) {
    if (valid_utf8(link.name)) applied += device_added(link.name);
  }
  return applied;
}

vdpa::Genl* DeviceRules::genl() {
  if (!genl_tried_) {
    genl_tried_ = true;
    if (auto connected = vdpa::Genl::connect()) genl_.emplace(std::move(*connected));
    else log::error("rules: vdpa rules: " + connected.error().message);
  }
  return genl_ ? &*genl_ : nullptr;
}

size_t DeviceRules::scan_vdpa() {
  bool any = std::any_of(rules_.begin(), rules_.end(), [](const auto& r) { return r.match.subsystem == "vdpa"; });
  if (!any || !genl()) return 0;
  size_t applied = 0;
  auto mgmtdevs = genl_->mgmtdevs();
  if (!mgmtdevs) {
    log::error("rules: listing vDPA management devices: " + mgmtdevs.error().message);
    return 0;
  }
  for (const auto& rule : rules_) {
    if (rule.match.subsystem != "vdpa" || !rule.vdpa) continue;
    for (const auto& mgmtdev : *mgmtdevs) {
      if (!glob(rule.match.mgmtdev, mgmtdev.handle())) continue;
      std::string tag = mgmtdev.handle();
      std::replace(tag.begin(), tag.end(), '/', '-');
      std::replace(tag.begin(), tag.end(), ':', '-');
      std::string name = rule.vdpa->name;
      if (auto at = name.find("{mgmtdev}"); at != std::string::npos) name.replace(at, 9, tag);
      if (auto existing = genl_->devices(name); existing && !existing->empty()) continue;  // there already
      vdpa::NewDevice device{name, mgmtdev.handle(), {}, rule.vdpa->mtu, rule.vdpa->max_vqp};
      if (rule.vdpa->mac) device.mac = vdpa::parse_mac(*rule.vdpa->mac);
      if (auto added = genl_->add(device); !added) {
        log::error("rules: " + rule.where + ": " + added.error().message);
        continue;
      }
      log::info("rules: " + rule.where + ": added vDPA device \"" + name + "\" on " + mgmtdev.handle());
      applied++;
    }
  }
  auto devices = genl_->devices();
  if (devices) {
    for (const auto& device : *devices) applied += vdpa_device_appeared(device.name);
  }
  return applied;
}

size_t DeviceRules::vdpa_device_appeared(const std::string& name) {
  if (!genl()) return 0;
  auto devices = genl_->devices(name);
  if (!devices || devices->empty()) return 0;
  const vdpa::Device& device = devices->front();
  size_t applied = 0;
  for (const auto& rule : rules_) {
    if (rule.match.subsystem != "vdpa" || rule.vdpa_driver.empty()) continue;
    if (!glob(rule.match.mgmtdev, device.mgmtdev)) continue;
    // A rule that adds a device binds that one; otherwise match.name chooses.
    if (rule.vdpa && rule.vdpa->name.find("{mgmtdev}") == std::string::npos && rule.vdpa->name != name) continue;
    if (!glob(rule.match.name, name)) continue;
    auto current = vdpa::bound_driver(name);
    if (current && *current == rule.vdpa_driver) continue;
    if (auto bound = vdpa::bind_driver(name, rule.vdpa_driver); !bound) {
      log::error("rules: " + rule.where + ": binding \"" + name + "\" to " + rule.vdpa_driver + ": " +
                 bound.error().message);
      continue;
    }
    log::info("rules: " + rule.where + ": bound vDPA device \"" + name + "\" to " + rule.vdpa_driver);
    applied++;
  }
  return applied;
}

bool DeviceRules::matches(const config::DeviceMatch& match, const rtnl::Link& link) {
  if (match.subsystem != "net") return false;
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
      log::error("rules: " + rule.where + ": adopting \"" + ifname + "\": " + added.error().message);
      return;
    } else {
      remember(netdev_id);
      log::info("rules: " + rule.where + ": adopted \"" + ifname + "\" as netdev '" + netdev_id + "'");
    }
  }
  if (rule.offloads && !netdev_id.empty()) {
    unsigned flags = 0;
    // The config parser let through only names tun knows.
    for (const auto& offload : *rule.offloads) flags |= tun::offload_flag(offload).value_or(0);
    if (auto set = commands_.set_tap_offloads(netdev_id, flags); !set) {
      log::error("rules: " + rule.where + ": offloads of \"" + ifname + "\": " + set.error().message);
    }
  }
  if (rule.nic) {
    auto arguments = config::fill_template(*rule.nic, ifname);
    arguments["netdev"] = netdev_id;
    std::string nic_id = arguments.value("id", "");
    if (!commands_.has_netdev(nic_id)) {
      if (auto added = commands_.adopt_netdev(arguments, std::nullopt); !added) {
        log::error("rules: " + rule.where + ": NIC for \"" + ifname + "\": " + added.error().message);
      }
    }
    if (commands_.has_netdev(nic_id)) remember(nic_id);
  }
  rtnl::LinkChange change;
  if (!rule.bridge.empty()) {
    auto bridge = rtnl_.get_link(rule.bridge);
    if (!bridge) {
      log::error("rules: " + rule.where + ": bridge \"" + rule.bridge + "\" for \"" + ifname + "\": " +
                 bridge.error().message);
    } else if (link.master != bridge->ifindex) {
      change.master = bridge->ifindex;
      change.up = true;
    }
  }
  if (rule.mtu && link.mtu != *rule.mtu) change.mtu = rule.mtu;
  if (change.master || change.mtu) {
    if (auto changed = rtnl_.change_link(link.ifindex, change); !changed) {
      log::error("rules: " + rule.where + ": \"" + ifname + "\": " + changed.error().message);
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
      log::info("rules: \"" + ifname + "\" is gone: netdev '" + *id + "' removed");
    }
  }
  adopted_.erase(it);
}

}  // namespace vnet
