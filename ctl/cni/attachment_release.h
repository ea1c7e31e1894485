// attachment_release - undoing an attachment, for DEL, GC and an ADD that
// finds an unfinished one: its netdevs in vnetd (the anti-spoofing nic before
// the tap), then the IPAM's DEL with what ADD stored (the IPAM's type and
// configuration, CNI_ARGS), so that the reservation goes back even when the
// runtime's configuration has changed since, or when only the plugin's own
// record is left (attachment_store.h).
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_error.h"
#include "ctl/cni/vnetd_attachments.h"

namespace vnet::cni {

// The IPAM's part of an attachment's data (vnetd's record or the plugin's).
struct StoredIpam {
  std::string type;
  std::string config;  // the configuration ADD delegated with, as JSON text
};
std::optional<StoredIpam> stored_ipam(const nlohmann::ordered_json& data);
// CNI_ARGS as ADD had it.
std::string stored_args(const nlohmann::ordered_json& data);

// Deletes the attachment's netdevs: with tap (vnetd has this attachment's
// tap), its nic if the tap is peered with it, then the tap; without, the nic
// alone if vnetd still has it unpeered (vnetd removed the tap with its
// namespace). A netdev under the nic's id that is not such a nic is left.
Expected<void> remove_netdevs(VnetdAttachments& vnetd, const std::string& tap_id,
                              const std::optional<Attachment>& tap);

// The IPAM's DEL of what ADD allocated: the stored type and configuration,
// with the attachment's own CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS and the
// stored CNI_ARGS. Nothing to do for an attachment without IPAM.
Expected<void> release_addresses(const nlohmann::ordered_json& data, const AttachmentKey& key,
                                 const std::string& netns, const std::string& cni_path,
                                 const std::map<std::string, std::string>& environment);

}  // namespace vnet::cni
