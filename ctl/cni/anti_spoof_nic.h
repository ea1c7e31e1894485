// anti_spoof_nic - guest anti-spoofing for an attachment ("anti-spoof": true,
// docs/cni.md, docs/anti-spoof.md): a vnetd `nic` netdev peered with the tap,
// whose anti-spoofing lets the guest send only from its MAC and the IPAM's
// addresses. The nic's id follows from the tap's, so DEL and GC find it with
// or without a record; this file holds what is sent and what is checked, not
// the QMP calls (vnetd_attachments.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_result.h"

namespace vnet::cni {

// The nic's id: the tap's id and "-nic" (still a QEMU id, id_wellformed()).
std::string nic_id_for(const std::string& tap_id);

// The IPAM's addresses as anti-spoofing's allowed-ips: each address alone,
// "10.1.0.5/32" or "2001:db8::5/128", in the result's order, without repeats.
std::vector<std::string> allowed_ips_of(const std::vector<IpConfig>& ips);

// netdev_add of the nic: type nic, peered with the tap, with the guest's MAC
// and anti-spoofing on for allowed_ips.
nlohmann::ordered_json nic_add_arguments(const std::string& tap_id, const std::string& guest_mac,
                                         const std::vector<std::string>& allowed_ips);

// CHECK: how vnetd's netdev under the nic's id (its query-netdevs entry, or
// nullopt when vnetd has none) differs from an anti-spoofing nic of tap_id
// for guest_mac (when given) allowing every address of allowed_ips; empty
// when it does not.
std::vector<std::string> nic_mismatches(const std::optional<nlohmann::ordered_json>& entry, const std::string& tap_id,
                                        const std::optional<std::string>& guest_mac,
                                        const std::vector<std::string>& allowed_ips);

// DEL and GC: whether the netdev under the nic's id is this attachment's nic
// to delete: a nic peered with tap_id, or with nothing (vnetd removed the tap
// when its namespace went, and the nic stayed, unpeered).
bool is_attachment_nic(const nlohmann::ordered_json& entry, const std::string& tap_id);

}  // namespace vnet::cni
