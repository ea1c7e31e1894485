#include "ctl/cni/anti_spoof_nic.h"

#include <sys/socket.h>

#include <algorithm>

#include "ctl/cni/ip_text.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

namespace {

std::string string_member(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string nic_id_for(const std::string& tap_id) { return tap_id + "-nic"; }

std::vector<std::string> allowed_ips_of(const std::vector<IpConfig>& ips) {
  std::vector<std::string> out;
  for (const auto& ip : ips) {
    auto address = parse_cidr(ip.address);
    if (!address) continue;  // parse_result() took only well-formed ones
    address->prefix = address->family == AF_INET ? 32 : 128;
    std::string text = format_ip(*address, true);
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
  }
  return out;
}

json nic_add_arguments(const std::string& tap_id, const std::string& guest_mac,
                       const std::vector<std::string>& allowed_ips) {
  json ips = json::array();
  for (const auto& ip : allowed_ips) ips.push_back(ip);
  return {{"type", "nic"},        {"id", nic_id_for(tap_id)}, {"netdev", tap_id},
          {"macaddr", guest_mac}, {"anti-spoof", true},       {"allowed-ips", ips}};
}

std::vector<std::string> nic_mismatches(const std::optional<json>& entry, const std::string& tap_id,
                                        const std::optional<std::string>& guest_mac,
                                        const std::vector<std::string>& allowed_ips) {
  std::string id = nic_id_for(tap_id);
  if (!entry || !entry->is_object()) return {"vnetd has no anti-spoofing nic " + id};
  std::string type = string_member(*entry, "type");
  if (type != "nic") return {"vnetd's netdev " + id + " is a " + type + ", not a nic"};
  std::vector<std::string> out;
  if (std::string peer = string_member(*entry, "peer"); peer != tap_id) {
    out.push_back("nic " + id + " is peered with " + (peer.empty() ? "nothing" : peer) + ", not " + tap_id);
  }
  json details = entry->contains("details") && (*entry)["details"].is_object() ? (*entry)["details"] : json::object();
  if (!details.contains("anti-spoof") || details["anti-spoof"] != true) {
    out.push_back("anti-spoofing is off on nic " + id);
    return out;
  }
  if (std::string mac = string_member(details, "macaddr"); guest_mac && mac != *guest_mac) {
    out.push_back("nic " + id + " allows MAC " + mac + ", not " + *guest_mac);
  }
  json allowed = details.contains("allowed-ips") && details["allowed-ips"].is_array() ? details["allowed-ips"]
                                                                                       : json::array();
  for (const auto& ip : allowed_ips) {
    if (std::find(allowed.begin(), allowed.end(), json(ip)) == allowed.end()) {
      out.push_back("nic " + id + " does not allow " + ip);
    }
  }
  return out;
}

bool is_attachment_nic(const json& entry, const std::string& tap_id) {
  if (string_member(entry, "type") != "nic") return false;
  std::string peer = string_member(entry, "peer");
  return peer.empty() || peer == tap_id;
}

}  // namespace vnet::cni
