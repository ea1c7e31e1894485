#include "ctl/cni/attachment_release.h"

#include <iostream>

#include "ctl/cni/anti_spoof_nic.h"
#include "ctl/cni/ipam.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

std::optional<StoredIpam> stored_ipam(const json& data) {
  auto ipam = data.find("ipam");
  if (ipam == data.end() || !ipam->is_object()) return std::nullopt;
  auto type = ipam->find("type");
  auto config = ipam->find("config");
  if (type == ipam->end() || !type->is_string() || type->get<std::string>().empty() || config == ipam->end() ||
      !config->is_object()) {
    return std::nullopt;
  }
  return StoredIpam{type->get<std::string>(), config->dump()};
}

std::string stored_args(const json& data) {
  auto args = data.find("args");
  return args != data.end() && args->is_string() ? args->get<std::string>() : std::string();
}

Expected<void> remove_netdevs(VnetdAttachments& vnetd, const std::string& tap_id,
                              const std::optional<Attachment>& tap) {
  std::string nic_id = nic_id_for(tap_id);
  bool nic = false;
  if (tap) {
    nic = tap->peer == nic_id;
  } else {
    auto entry = vnetd.netdev(nic_id);
    if (!entry) return tl::unexpected(entry.error());
    if (*entry && !is_attachment_nic(**entry, tap_id)) {
      std::cerr << "vnetctl-cni: leaves alone vnetd's netdev " << nic_id << ": not this attachment's nic\n";
    }
    nic = *entry && is_attachment_nic(**entry, tap_id);
  }
  // The nic first: deleting the tap alone would leave it, unpeered.
  if (nic) {
    if (auto removed = vnetd.remove(nic_id); !removed) return tl::unexpected(removed.error());
  }
  if (tap) {
    if (auto removed = vnetd.remove(tap_id); !removed) return tl::unexpected(removed.error());
  }
  return {};
}

Expected<void> release_addresses(const json& data, const AttachmentKey& key, const std::string& netns,
                                 const std::string& cni_path, const std::map<std::string, std::string>& environment) {
  auto ipam = stored_ipam(data);
  if (!ipam) return {};
  Ipam plugin(ipam->type, cni_path, environment);
  std::map<std::string, std::string> overrides = {{"CNI_CONTAINERID", key.container_id},
                                                  {"CNI_IFNAME", key.ifname},
                                                  {"CNI_NETNS", netns},
                                                  {"CNI_ARGS", stored_args(data)}};
  return plugin.del(ipam->config, overrides);
}

}  // namespace vnet::cni
