// restore_netdev: a restarted daemon re-adopting what its state file records,
// through the same path as netdev_add, with the kernel objects found again
// rather than made.
#include "backends/nic/ip_prefix.h"
#include "backends/nic/nic_backend.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/qapi/input_visitor.h"
#include "kernel_ifaces/log.h"
#include "qapi_visit.h"

namespace vnet {

namespace {

using json = nlohmann::ordered_json;

Result<qapi::Netdev> decode_netdev(const json& options) {
  auto netdev = qapi::decode_struct<qapi::Netdev>(options, qapi::visit_type_Netdev_members);
  if (!netdev) return Error{EINVAL, "its options do not decode: " + netdev.error().desc};
  return std::move(netdev.value());
}

// What the NIC knew beyond its options: addresses, failover, the filter.
void restore_nic_extras(nic::NicBackend& nic, const json& details) {
  if (details.contains("announce-addresses")) {
    std::vector<nic::IpAddress> addresses;
    std::vector<std::string> texts;
    for (const auto& text : details["announce-addresses"]) {
      if (auto address = nic::parse_ip(text.get<std::string>())) {
        addresses.push_back(*address);
        texts.push_back(text.get<std::string>());
      }
    }
    nic.set_announce_addresses(std::move(addresses), std::move(texts));
  }
  if (details.contains("failover-pair")) {
    nic.set_failover_pair(details["failover-pair"].get<std::string>());
    nic.set_standby(details.value("standby-negotiated", false));
  }
  // Its peer's queues are all held by a VMM: no fd to attach through, but
  // the program attached before the restart (same maps) is still on the tap.
  if (nic.restarted() && !nic.filter_enforced() && details.value("rx-filter-enforced", false)) {
    nic.set_filter_still_attached();
  }
  // Anti-spoofing: its maps (prefixes, counters) are re-adopted from their
  // pins and a new program replaces the old one on the tap's ingress.
  // What the details say wins over the options (set-anti-spoof came later).
  if (nic.anti_spoof().enabled && details.contains("anti-spoof") && !details.value("anti-spoof", false)) {
    (void)nic.set_anti_spoof({});
  }
  if (details.value("anti-spoof", false)) {
    nic::AntiSpoofSetting setting;
    setting.enabled = true;
    setting.drop_other = details.value("other-ethertypes", std::string()) == "drop";
    if (details.contains("allowed-ips")) setting.allowed_texts = details["allowed-ips"].get<std::vector<std::string>>();
    auto allowed = nic::parse_ip_prefixes(setting.allowed_texts, "allowed-ips");
    auto set = allowed ? (setting.allowed = std::move(allowed.value()), nic.set_anti_spoof(std::move(setting)))
                       : Result<void>(allowed.take_error());
    if (!set) log::error("restoring anti-spoofing: " + set.error().message);
  }
}

}  // namespace

Result<void> VnetdCommands::restore_netdev(const json& record) {
  if (!record.is_object() || !record.contains("netdev") || !record.contains("details")) {
    return Error{EINVAL, "a record without netdev options or details"};
  }
  auto netdev = decode_netdev(record["netdev"]);
  if (!netdev) return netdev.take_error();
  const json& details = record["details"];
  // A NIC or hubport whose peer was deleted after it is restored unbound, as
  // it was (its options still name the peer it was added with).
  std::string peer = record.value("peer", std::string());
  if (peer.empty() || !registry_.find(peer)) {
    if (auto* hub = std::get_if<qapi::NetdevHubPortOptions>(&netdev->u)) hub->netdev.reset();
    if (auto* nic = std::get_if<qapi::NetLegacyNicOptions>(&netdev->u)) {
      nic->netdev.reset();
      // Its anti-spoofing ended with the pair (the details say so too).
      nic->anti_spoof.reset();
      nic->allowed_ips.reset();
      nic->other_ethertypes.reset();
    }
  }

  BackendRequest request{[](const std::string&) { return std::optional<UniqueFd>(); }, {}, {}};
  if (details.contains("macaddr")) {
    if (auto mac = nic::parse_mac(details["macaddr"].get<std::string>())) request.default_mac = *mac;
  }
  if (netdev->type == qapi::NetClientDriver::tap || netdev->type == qapi::NetClientDriver::bridge) {
    if (!details.contains("ifname") || !details.contains("ifindex")) {
      return Error{EINVAL, "no ifname or ifindex recorded for its tap"};
    }
    request.restore_tap = tap::TapBackend::Record{details["ifname"].get<std::string>(),
                                                  static_cast<int>(integer_member(details, "ifindex", 0)),
                                                  details.value("created", false),
                                                  details.value("bridge", std::string()),
                                                  static_cast<uint64_t>(integer_member(details, "netns-inode", 0))};
  }
  if (netdev->type == qapi::NetClientDriver::nic && details.value("guest-tap", false)) {
    // A NIC on a hub had a tap of its own: found again, not made.
    if (!details.contains("ifname") || !details.contains("ifindex")) {
      return Error{EINVAL, "no ifname or ifindex recorded for its tap"};
    }
    request.nic_gets_tap = true;
    request.restore_tap = tap::TapBackend::Record{details["ifname"].get<std::string>(),
                                                  static_cast<int>(integer_member(details, "ifindex", 0)),
                                                  details.value("created", false), "", 0};
  }
  if (netdev->type == qapi::NetClientDriver::l2tpv3 && details.contains("tunnel-id")) {
    request.restore_l2tp_tunnel = static_cast<uint32_t>(integer_member(details, "tunnel-id", 0));
  }
  auto added = add_netdev(*netdev, request);
  if (!added) return Error{EINVAL, added.error().desc};
  NetdevEntry& entry = *added.value();
  entry.link_up = record.value("link-up", true);
  if (auto* nic = dynamic_cast<nic::NicBackend*>(entry.backend.get())) restore_nic_extras(*nic, details);
  return {};
}

Result<void> VnetdCommands::adopt_netdev(const json& arguments, const std::optional<rtnl::Link>& device) {
  auto netdev = decode_netdev(arguments);
  if (!netdev) return netdev.take_error();
  BackendRequest request{[](const std::string&) { return std::optional<UniqueFd>(); }, {}, {}};
  if (const auto* nic = std::get_if<qapi::NetLegacyNicOptions>(&netdev->u); nic && !nic->macaddr) {
    request.default_mac = default_mac(registry_);
  }
  if (device && (netdev->type == qapi::NetClientDriver::tap || netdev->type == qapi::NetClientDriver::bridge)) {
    std::string bridge;
    if (const auto* options = std::get_if<qapi::NetdevBridgeOptions>(&netdev->u)) bridge = options->br.value_or("");
    request.restore_tap = tap::TapBackend::Record{device->name, device->ifindex, false, bridge};
  }
  auto added = add_netdev(*netdev, request);
  if (!added) return Error{EINVAL, added.error().desc};
  state_changed(netdev->id);
  return {};
}

Result<void> VnetdCommands::set_tap_offloads(const std::string& id, unsigned flags) {
  NetdevEntry* entry = registry_.find(id);
  auto* tap = entry ? dynamic_cast<tap::TapBackend*>(entry->backend.get()) : nullptr;
  if (!tap) return Error{ENODEV, "netdev '" + id + "' is not a tap"};
  return tap->set_offloads(flags);
}

void VnetdCommands::remove_netdev(const std::string& id) {
  NetdevEntry* entry = registry_.find(id);
  std::string peer = entry ? entry->peer : "";
  registry_.remove(id);
  qmp::emit_event(events_, "VNET_NETDEV_DELETED", qapi::VnetNetdevDeletedData{id});
  state_changed(id);
  if (!peer.empty()) state_changed(peer);
}

QmpResult<Empty> VnetdCommands::qmp_udev_event(qapi::CommandContext&, const qapi::UdevEventArgs& args) {
  if (udev_handler_) udev_handler_(args);
  return Empty{};
}

}  // namespace vnet
