// vnetd_attachments - a CNI attachment as a vnetd tap netdev: its id derived
// from the attachment's key, the netdev_add that makes it (vnetd's netns,
// mtu, mac and attachment extensions), and the query-netdevs records it is
// found by again, after any number of vnetd restarts. vnetd's record, with
// the attachment's key and data, is the first one; the plugin's own
// (attachment_store.h) outlives a netdev vnetd removed by itself.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/cli/qmp_client.h"
#include "ctl/cni/cni_error.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

// An attachment is (network, container id, interface name): SPEC.md section
// 3 names it by (CNI_CONTAINERID, CNI_IFNAME) within a network.
struct AttachmentKey {
  std::string network;
  std::string container_id;
  std::string ifname;
  bool operator==(const AttachmentKey&) const = default;
};

// "cni-" and the 128-bit FNV-1a hash of the key in hex: a QEMU id
// (id_wellformed(): a letter, then letters, digits, '-', '.', '_'), the same
// for the same key in every process. Two keys may share one (unlikely as it
// is): the record's own key decides, see Attachment.
std::string netdev_id_for(const AttachmentKey& key);

// What the tap is made with.
struct TapSpec {
  std::string netns;  // CNI_NETNS
  std::optional<uint32_t> queues;
  std::optional<uint32_t> mtu;
  std::optional<std::string> mac;
  std::optional<uint32_t> owner;
  std::optional<uint32_t> group;
  std::optional<bool> vhost;
  // false: vnetd closes its queue fds once the tap is persistent, so its
  // owner or group opens every queue by name ("hold-queues", open-by-name).
  std::optional<bool> hold_queues;
  json data = json::object();  // kept by vnetd with the netdev, for DEL and GC
};

// The netdev_add arguments for the attachment key as netdev id.
json netdev_add_arguments(const std::string& id, const AttachmentKey& key, const TapSpec& spec);

// One vnetd netdev made for an attachment, as query-netdevs shows it.
struct Attachment {
  std::string id;
  AttachmentKey key;
  std::string netns;
  std::string mac;
  std::optional<uint64_t> mtu;
  std::string peer;  // the netdev peered with the tap ("" for none): its nic
  json data = json::object();
};

// A query-netdevs entry's attachment; nullopt for a netdev that has none
// (not made by this plugin) or whose record is not of the expected shape.
std::optional<Attachment> attachment_from_netdev(const json& entry);

class VnetdAttachments {
 public:
  // Connects to vnetd's QMP socket; code 11 (try again later) when nothing
  // answers there.
  static Expected<VnetdAttachments> connect(const std::string& socket);

  // The netdev id's record; nullopt when vnetd has no such netdev. A netdev
  // of that id without an attachment record is a conflict (code 101).
  Expected<std::optional<Attachment>> find(const std::string& id);
  // netdev_add, then the record it made (with the device's MAC and MTU).
  Expected<Attachment> add(const std::string& id, const AttachmentKey& key, const TapSpec& spec);
  // netdev_del; false when vnetd had no such netdev (DeviceNotFound).
  Expected<bool> remove(const std::string& id);
  // Any netdev's query-netdevs entry (the attachment's nic); nullopt when
  // vnetd has none of that id.
  Expected<std::optional<json>> netdev(const std::string& id);
  // netdev_add with these arguments (the attachment's nic).
  Expected<void> add_netdev(const json& arguments);
  // Every attachment of a network.
  Expected<std::vector<Attachment>> list(const std::string& network);
  // query-version: whether vnetd answers requests at all.
  Expected<void> ping();

 private:
  explicit VnetdAttachments(cli::QmpClient client) : client_(std::move(client)) {}
  Expected<json> execute(const std::string& command, const json& arguments, bool* not_found = nullptr);

  cli::QmpClient client_;
};

}  // namespace vnet::cni
