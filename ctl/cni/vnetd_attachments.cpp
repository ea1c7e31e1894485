#include "ctl/cni/vnetd_attachments.h"

#include <cstdio>

namespace vnet::cni {

namespace {

// FNV-1a, 128 bits (offset basis and prime from the FNV specification,
// draft-eastlake-fnv): cheap, stable across builds and hosts, and wide
// enough that ids of a host's attachments do not meet in practice.
std::string fnv1a_128_hex(const std::string& bytes) {
  using u128 = unsigned __int128;
  u128 hash = (static_cast<u128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  const u128 prime = (static_cast<u128>(0x0000000001000000ULL) << 64) | 0x000000000000013BULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= prime;
  }
  char out[33];
  std::snprintf(out, sizeof(out), "%016llx%016llx", static_cast<unsigned long long>(hash >> 64),
                static_cast<unsigned long long>(hash));
  return out;
}

std::string string_or_empty(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string netdev_id_for(const AttachmentKey& key) {
  // NUL between the parts: none of them can hold one, so no two keys make
  // the same bytes.
  std::string bytes = key.network;
  bytes += '\0';
  bytes += key.container_id;
  bytes += '\0';
  bytes += key.ifname;
  return "cni-" + fnv1a_128_hex(bytes);
}

json netdev_add_arguments(const std::string& id, const AttachmentKey& key, const TapSpec& spec) {
  json args = {{"type", "tap"}, {"id", id}, {"ifname", key.ifname}, {"netns", spec.netns}};
  if (spec.queues) args["queues"] = *spec.queues;
  if (spec.mtu) args["mtu"] = *spec.mtu;
  if (spec.mac) args["mac"] = *spec.mac;
  if (spec.owner) args["owner"] = *spec.owner;
  if (spec.group) args["group"] = *spec.group;
  if (spec.vhost) args["vhost"] = *spec.vhost;
  if (spec.hold_queues) args["hold-queues"] = *spec.hold_queues;
  args["attachment"] = {{"network", key.network},
                        {"container-id", key.container_id},
                        {"ifname", key.ifname},
                        {"data", spec.data}};
  return args;
}

std::optional<Attachment> attachment_from_netdev(const json& entry) {
  if (!entry.is_object() || !entry.contains("details") || !entry["details"].is_object()) return std::nullopt;
  const json& details = entry["details"];
  auto record = details.find("attachment");
  if (record == details.end() || !record->is_object()) return std::nullopt;
  Attachment out;
  out.id = string_or_empty(entry, "id");
  out.key = {string_or_empty(*record, "network"), string_or_empty(*record, "container-id"),
             string_or_empty(*record, "ifname")};
  if (out.id.empty() || out.key.network.empty() || out.key.container_id.empty() || out.key.ifname.empty()) {
    return std::nullopt;
  }
  if (auto data = record->find("data"); data != record->end() && data->is_object()) out.data = *data;
  out.netns = string_or_empty(details, "netns");
  out.peer = string_or_empty(entry, "peer");
  out.mac = string_or_empty(details, "mac");
  if (auto mtu = details.find("mtu"); mtu != details.end() && mtu->is_number_unsigned()) {
    out.mtu = mtu->get<uint64_t>();
  }
  return out;
}

Expected<VnetdAttachments> VnetdAttachments::connect(const std::string& socket) {
  auto client = cli::QmpClient::connect(socket);
  if (!client) return fail(kTryAgainLater, "vnetd is not answering on " + socket, client.error().message);
  return VnetdAttachments(std::move(*client));
}

Expected<json> VnetdAttachments::execute(const std::string& command, const json& arguments, bool* not_found) {
  auto reply = client_.execute(command, arguments);
  if (!reply) return fail(kTryAgainLater, "lost vnetd during " + command, reply.error().message);
  if (reply->ok()) return reply->message["return"];
  const json& error = reply->message["error"];
  std::string error_class = string_or_empty(error, "class");
  if (not_found && error_class == "DeviceNotFound") {
    *not_found = true;
    return json();
  }
  return fail(kVnetdRefused, "vnetd refused " + command + ": " + reply->error_desc(),
              error_class + " for " + arguments.dump());
}

Expected<std::optional<Attachment>> VnetdAttachments::find(const std::string& id) {
  bool not_found = false;
  auto answer = execute("query-netdevs", {{"id", id}}, &not_found);
  if (!answer) return tl::unexpected(answer.error());
  if (not_found || !answer->is_array() || answer->empty()) return std::optional<Attachment>();
  for (const auto& entry : *answer) {
    if (string_or_empty(entry, "id") != id) continue;
    auto attachment = attachment_from_netdev(entry);
    if (!attachment) {
      return fail(kAttachmentConflict, "vnetd netdev " + id + " exists and is no CNI attachment",
                  "vnetctl-cni keeps the ids cni-<hash> for its attachments");
    }
    return std::optional<Attachment>(std::move(*attachment));
  }
  return std::optional<Attachment>();
}

Expected<Attachment> VnetdAttachments::add(const std::string& id, const AttachmentKey& key, const TapSpec& spec) {
  auto added = execute("netdev_add", netdev_add_arguments(id, key, spec));
  if (!added) return tl::unexpected(added.error());
  auto found = find(id);
  if (!found) return tl::unexpected(found.error());
  if (!*found) return fail(kVnetdRefused, "vnetd lost netdev " + id + " right after adding it");
  return std::move(**found);
}

Expected<bool> VnetdAttachments::remove(const std::string& id) {
  bool not_found = false;
  auto answer = execute("netdev_del", {{"id", id}}, &not_found);
  if (!answer) return tl::unexpected(answer.error());
  return !not_found;
}

Expected<std::optional<json>> VnetdAttachments::netdev(const std::string& id) {
  bool not_found = false;
  auto answer = execute("query-netdevs", {{"id", id}}, &not_found);
  if (!answer) return tl::unexpected(answer.error());
  if (!not_found && answer->is_array()) {
    for (const auto& entry : *answer) {
      if (string_or_empty(entry, "id") == id) return std::optional<json>(entry);
    }
  }
  return std::optional<json>();
}

Expected<void> VnetdAttachments::add_netdev(const json& arguments) {
  auto added = execute("netdev_add", arguments);
  if (!added) return tl::unexpected(added.error());
  return {};
}

Expected<std::vector<Attachment>> VnetdAttachments::list(const std::string& network) {
  auto answer = execute("query-netdevs", nullptr);
  if (!answer) return tl::unexpected(answer.error());
  std::vector<Attachment> out;
  if (!answer->is_array()) return out;
  for (const auto& entry : *answer) {
    auto attachment = attachment_from_netdev(entry);
    if (attachment && attachment->key.network == network) out.push_back(std::move(*attachment));
  }
  return out;
}

Expected<void> VnetdAttachments::ping() {
  auto answer = execute("query-version", nullptr);
  if (!answer) return tl::unexpected(answer.error());
  return {};
}

}  // namespace vnet::cni
