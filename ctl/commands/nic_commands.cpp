// query-rx-filter, set-rx-filter and announce-self: the commands that act on
// guest NICs, with QEMU's texts and NIC_RX_FILTER_CHANGED's rule.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "backends/nic/ip_prefix.h"
#include "backends/nic/nic_backend.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/qmp/qemu_texts.h"

namespace vnet {

using qapi::CommandContext;
namespace texts = qmp::texts;

namespace {

qapi::RxState to_qapi(ebpf::RxMode mode) {
  return mode == ebpf::RxMode::none ? qapi::RxState::none
         : mode == ebpf::RxMode::all ? qapi::RxState::all
                                     : qapi::RxState::normal;
}

ebpf::RxMode from_qapi(qapi::RxState state) {
  return state == qapi::RxState::none ? ebpf::RxMode::none
         : state == qapi::RxState::all ? ebpf::RxMode::all
                                       : ebpf::RxMode::normal;
}

qapi::RxFilterInfo to_info(const std::string& name, const ebpf::RxFilterState& s) {
  qapi::RxFilterInfo info;
  info.name = name;
  info.promiscuous = s.promiscuous;
  info.multicast = to_qapi(s.multicast);
  info.unicast = to_qapi(s.unicast);
  info.vlan = to_qapi(s.vlan);
  info.broadcast_allowed = s.broadcast_allowed;
  info.multicast_overflow = s.multicast_overflow;
  info.unicast_overflow = s.unicast_overflow;
  info.main_mac = nic::format_mac(s.main_mac);
  // QEMU lists VLAN ids from the highest down (it prepends as it walks up).
  for (auto it = s.vlan_table.rbegin(); it != s.vlan_table.rend(); ++it) info.vlan_table.push_back(*it);
  for (const auto& mac : s.unicast_table) info.unicast_table.push_back(nic::format_mac(mac));
  for (const auto& mac : s.multicast_table) info.multicast_table.push_back(nic::format_mac(mac));
  return info;
}

QmpResult<std::vector<ebpf::Mac>> parse_table(const std::vector<std::string>& texts, bool multicast,
                                              const char* member) {
  std::vector<ebpf::Mac> out;
  for (const auto& text : texts) {
    auto mac = nic::parse_mac(text);
    if (!mac) return generic_error(std::string(member) + ": '" + text + "' is not a MAC address");
    if (bool(mac->at(0) & 1) != multicast) {
      return generic_error(std::string(member) + ": '" + text + "' is " + (multicast ? "not " : "") +
                           "a multicast address");
    }
    out.push_back(*mac);
  }
  return out;
}

QmpResult<ebpf::RxFilterState> to_state(const qapi::RxFilterInfo& info) {
  ebpf::RxFilterState s;
  s.promiscuous = info.promiscuous;
  s.unicast = from_qapi(info.unicast);
  s.multicast = from_qapi(info.multicast);
  s.vlan = from_qapi(info.vlan);
  s.broadcast_allowed = info.broadcast_allowed;
  s.unicast_overflow = info.unicast_overflow;
  s.multicast_overflow = info.multicast_overflow;
  auto main = nic::parse_mac(info.main_mac);
  if (!main) return generic_error("main-mac: '" + info.main_mac + "' is not a MAC address");
  s.main_mac = *main;
  auto unicast = parse_table(info.unicast_table, false, "unicast-table");
  if (!unicast) return unicast.error();
  auto multicast = parse_table(info.multicast_table, true, "multicast-table");
  if (!multicast) return multicast.error();
  s.unicast_table = std::move(unicast.value());
  s.multicast_table = std::move(multicast.value());
  if (s.unicast_table.size() + s.multicast_table.size() > 64) {
    return generic_error("unicast-table and multicast-table hold " +
                         std::to_string(s.unicast_table.size() + s.multicast_table.size()) +
                         " MACs: a virtio-net filter holds at most 64 (MAC_TABLE_ENTRIES)");
  }
  for (int64_t vid : info.vlan_table) {
    if (vid < 0 || vid > 4095) return generic_error("vlan-table: " + std::to_string(vid) + " is not a VLAN id (0-4095)");
    s.vlan_table.push_back(static_cast<uint16_t>(vid));
  }
  std::sort(s.vlan_table.begin(), s.vlan_table.end());
  s.vlan_table.erase(std::unique(s.vlan_table.begin(), s.vlan_table.end()), s.vlan_table.end());
  return s;
}

nic::NicBackend* as_nic(NetdevEntry& entry) { return dynamic_cast<nic::NicBackend*>(entry.backend.get()); }

}  // namespace

QmpResult<nic::NicBackend*> VnetdCommands::find_nic(const std::string& name) {
  NetdevEntry* entry = registry_.find(name);
  if (!entry) return QmpError{ErrorClass::DeviceNotFound, texts::device_not_found(name)};
  nic::NicBackend* nic = as_nic(*entry);
  if (!nic) return generic_error(texts::not_a_nic(name));
  return nic;
}

QmpResult<std::vector<qapi::RxFilterInfo>> VnetdCommands::qmp_query_rx_filter(CommandContext&,
                                                                              const qapi::QueryRxFilterArgs& args) {
  std::vector<qapi::RxFilterInfo> out;
  for (const auto& entry : registry_.all()) {
    if (args.name && entry->id != *args.name) continue;
    nic::NicBackend* nic = as_nic(*entry);
    if (!nic) {
      if (args.name) return generic_error(texts::not_a_nic(*args.name));
      continue;
    }
    auto state = nic->rx_filter();
    if (!state) return generic_error("reading the rx filter of '" + entry->id + "': " + state.error().message);
    out.push_back(to_info(entry->id, *state));
    nic->enable_notify();
    if (args.name) break;
  }
  if (args.name && out.empty()) return generic_error(texts::invalid_client_name(*args.name));
  return out;
}

QmpResult<Empty> VnetdCommands::qmp_set_rx_filter(CommandContext&, const qapi::RxFilterInfo& args) {
  return program_rx_filter(args);
}

QmpResult<Empty> VnetdCommands::program_rx_filter(const qapi::RxFilterInfo& args) {
  auto found = find_nic(args.name);
  if (!found) return found.error();
  nic::NicBackend* nic = found.value();
  auto state = to_state(args);
  if (!state) return state.error();
  if (auto applied = nic->set_rx_filter(state.value()); !applied) {
    return generic_error("programming the rx filter of '" + args.name + "': " + applied.error().message);
  }
  if (nic->take_notify()) {
    qmp::emit_event(events_, "NIC_RX_FILTER_CHANGED",
                    qapi::NicRxFilterChangedData{args.name, "/machine/peripheral/" + args.name + "/virtio-backend"});
  }
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_set_nic_features(CommandContext&, const qapi::SetNicFeaturesArgs& args) {
  auto found = find_nic(args.name);
  if (!found) return found.error();
  nic::NicBackend* nic = found.value();
  if (args.failover_pair && !id_wellformed(*args.failover_pair)) {
    return generic_error(texts::parameter_expects("failover-pair", "an identifier"));
  }
  // A guest can only ack STANDBY when the device offers it (failover=on).
  if (args.standby.value_or(false) && args.failover_pair.value_or(nic->failover_pair()).empty()) {
    return generic_error("NIC '" + args.name + "' is not the standby of a failover pair: declare failover-pair first");
  }
  if (auto full = refuse_unrecordable()) return *full;
  if (args.failover_pair) nic->set_failover_pair(*args.failover_pair);
  if (args.standby) {
    nic->set_standby(*args.standby);
    // As virtio_net_set_features(): on every negotiation that acks STANDBY.
    if (*args.standby) qmp::emit_event(events_, "FAILOVER_NEGOTIATED", qapi::FailoverNegotiatedData{args.name});
  }
  state_changed(args.name);
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_set_announce_addresses(CommandContext&,
                                                           const qapi::SetAnnounceAddressesArgs& args) {
  auto found = find_nic(args.name);
  if (!found) return found.error();
  nic::NicBackend* nic = found.value();
  std::vector<nic::IpAddress> addresses;
  for (const auto& text : args.addresses) {
    auto address = nic::parse_ip(text);
    if (!address) return generic_error("addresses: '" + text + "' is not an IPv4 or IPv6 address");
    addresses.push_back(*address);
  }
  if (auto full = refuse_unrecordable()) return *full;
  nic->set_announce_addresses(std::move(addresses), args.addresses);
  state_changed(args.name);
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_set_anti_spoof(CommandContext&, const qapi::SetAntiSpoofArgs& args) {
  auto found = find_nic(args.name);
  if (!found) return found.error();
  nic::NicBackend* nic = found.value();
  nic::AntiSpoofSetting setting;
  setting.enabled = args.enable;
  if (args.enable) {
    setting.allowed_texts = args.allowed_ips.value_or(std::vector<std::string>{});
    auto allowed = nic::parse_ip_prefixes(setting.allowed_texts, "allowed-ips");
    if (!allowed) return generic_error(allowed.error().message);
    setting.allowed = std::move(allowed.value());
    setting.drop_other = args.other_ethertypes == qapi::AntiSpoofOtherEthertypes::drop;
  } else if (args.allowed_ips || args.other_ethertypes) {
    return generic_error("allowed-ips and other-ethertypes go with enable true");
  }
  if (auto full = refuse_unrecordable()) return *full;
  if (auto set = nic->set_anti_spoof(std::move(setting)); !set) {
    return generic_error("anti-spoofing on NIC '" + args.name + "': " + set.error().message);
  }
  state_changed(args.name);
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_announce_self(CommandContext&, const qapi::AnnounceParameters& args) {
  // QEMU takes any number here: a negative delay or round count makes it send
  // frames back to back for ever, and rounds beyond an int wrap. Refused.
  for (auto [name, value] : {std::pair{"initial", args.initial}, {"max", args.max}, {"step", args.step}}) {
    if (value < 0) return generic_error(texts::parameter_expects(name, "a non-negative number of milliseconds"));
  }
  if (args.rounds < 0 || args.rounds > INT32_MAX) {
    return generic_error(texts::parameter_expects("rounds", "a number from 0 to 2147483647"));
  }
  if (auto full = refuse_unrecordable()) return *full;
  if (auto started = announcer_.start(args); !started) return generic_error(started.error().message);
  return Empty{};
}

}  // namespace vnet
