#include "ctl/cni/cni_commands.h"

#include <functional>
#include <iostream>
#include <map>
#include <vector>

#include "ctl/cni/anti_spoof_nic.h"
#include "ctl/cni/attachment_release.h"
#include "ctl/cni/attachment_result.h"
#include "ctl/cni/attachment_store.h"
#include "ctl/cni/cni_result.h"
#include "ctl/cni/cni_version.h"
#include "ctl/cni/ipam.h"
#include "ctl/cni/link_check.h"
#include "ctl/cni/link_config.h"
#include "ctl/cni/netns_scope.h"
#include "ctl/cni/vnetd_attachments.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

namespace {

// What ADD has made so far, undone in reverse order unless the ADD succeeds
// (SPEC.md: a failed ADD leaves nothing; "If, on ADD, a delegated plugin
// fails, the upper plugin should execute again with DEL").
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void dismiss() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

void note(const std::string& text) { std::cerr << "vnetctl-cni: " << text << '\n'; }

std::string error_text(const CniError& error) {
  return error.details.empty() ? error.msg : error.msg + " (" + error.details + ")";
}

AttachmentKey key_of(const Invocation& in) { return {in.conf.name, in.env.container_id, in.env.ifname}; }

Interface tap_interface(const Attachment& attachment, const CniEnv& env) {
  Interface tap;
  tap.name = env.ifname;
  tap.mac = attachment.mac;
  tap.mtu = attachment.mtu;
  tap.sandbox = env.netns;
  return tap;
}

Expected<std::optional<SuccessResult>> prev_result_of(const NetConf& conf) {
  if (conf.prev_result.is_null()) return std::optional<SuccessResult>();
  auto prev = parse_result(conf.prev_result, conf.cni_version);
  if (!prev) return tl::unexpected(prev.error());
  return std::optional<SuccessResult>(std::move(*prev));
}

// What vnetd and the plugin's own record keep for DEL and GC: the CNI
// version, CNI_ARGS, and the IPAM's type, the configuration it is given and
// (once it answered) its result, so that GC can release the addresses of an
// attachment whose DEL never came.
json attachment_data(const Invocation& in, const std::optional<SuccessResult>& ipam_result) {
  json data = {{"cniVersion", in.conf.cni_version}, {"args", in.env.args}};
  if (!in.conf.ipam_type.empty()) {
    data["ipam"] = {{"type", in.conf.ipam_type}, {"config", stored_delegate_config(in.conf)}};
    if (ipam_result) {
      auto result = result_json(*ipam_result, kCurrentVersion);
      data["ipam"]["result"] = result ? *result : json::object();
    }
  }
  return data;
}

// The IPAM part of a stored attachment, read back.
std::optional<SuccessResult> stored_ipam_result(const Attachment& attachment) {
  if (!attachment.data.contains("ipam") || !attachment.data["ipam"].is_object()) return std::nullopt;
  const json& ipam = attachment.data["ipam"];
  if (!ipam.contains("result")) return std::nullopt;
  auto result = parse_result(ipam["result"], kCurrentVersion);
  if (!result) return std::nullopt;
  return *result;
}

tl::unexpected<CniError> collision(const std::string& what, const AttachmentKey& theirs, const AttachmentKey& key) {
  return fail(kAttachmentConflict,
              what + " belongs to attachment (" + theirs.network + ", " + theirs.container_id + ", " + theirs.ifname +
                  ")",
              "the ids of (" + key.network + ", " + key.container_id + ", " + key.ifname +
                  ") and that attachment collide; delete one of them");
}

tl::unexpected<CniError> conflict_if_not_ours(const Attachment& found, const AttachmentKey& key) {
  return collision("netdev " + found.id, found.key, key);
}

// The guest's MAC anti-spoofing allows: "guest-mac", else the tap's.
std::string guest_mac_of(const NetConf& conf, const Attachment& tap) { return conf.guest_mac.value_or(tap.mac); }

// The anti-spoofing nic of a retried ADD whose first run stopped after the
// tap (killed, or vnetd refused the nic): added now if vnetd lacks it.
Expected<void> ensure_nic(VnetdAttachments& vnetd, const NetConf& conf, const Attachment& tap,
                          const std::optional<SuccessResult>& ipam_result) {
  auto entry = vnetd.netdev(nic_id_for(tap.id));
  if (!entry) return tl::unexpected(entry.error());
  if (*entry) return {};
  std::vector<IpConfig> ips = ipam_result ? ipam_result->ips : std::vector<IpConfig>{};
  return vnetd.add_netdev(nic_add_arguments(tap.id, guest_mac_of(conf, tap), allowed_ips_of(ips)));
}

Expected<Output> print_result(const SuccessResult& result, const std::string& version) {
  auto out = result_json(result, version);
  if (!out) return tl::unexpected(out.error());
  return Output(std::move(*out));
}

}  // namespace

Expected<Output> cmd_add(const Invocation& in) {
  const NetConf& conf = in.conf;
  const CniEnv& env = in.env;
  if (auto checked = check_container_netns(env.netns); !checked) return tl::unexpected(checked.error());
  auto mac = effective_mac(conf, env);
  if (!mac) return tl::unexpected(mac.error());
  auto prev = prev_result_of(conf);
  if (!prev) return tl::unexpected(prev.error());
  auto config_dns = parse_dns(conf.dns);
  if (!config_dns) return fail(kInvalidConfig, "invalid \"dns\": " + conf.dns.dump(), config_dns.error().msg);
  // A 0.1.0/0.2.0 result needs an address: say so before making anything.
  if (!at_least(conf.cni_version, "0.3.0") && conf.ipam_type.empty() && (!*prev || (*prev)->ips.empty())) {
    return fail(kIncompatibleVersion, "cniVersion " + conf.cni_version + " needs an IP address in the result",
                "configure \"ipam\", or use cniVersion 0.3.0 or later");
  }

  AttachmentKey key = key_of(in);
  std::string id = netdev_id_for(key);
  AttachmentStore store(conf.data_dir, conf.name);
  auto vnetd = VnetdAttachments::connect(conf.socket);
  if (!vnetd) return tl::unexpected(vnetd.error());
  auto existing = vnetd->find(id);
  if (!existing) return tl::unexpected(existing.error());
  size_t index = 0;
  if (*existing) {
    // The runtime retrying an ADD that was done: the same result again.
    const Attachment& found = **existing;
    if (found.key != key) return conflict_if_not_ours(found, key);
    if (!same_netns(found.netns, env.netns)) {
      return fail(kAttachmentConflict,
                  "attachment (" + key.network + ", " + key.container_id + ", " + key.ifname + ") exists in " +
                      found.netns,
                  "DEL it before adding it to " + env.netns);
    }
    auto ipam_result = stored_ipam_result(found);
    if (conf.anti_spoof) {
      if (auto nic = ensure_nic(*vnetd, conf, found, ipam_result); !nic) return tl::unexpected(nic.error());
    }
    // An attachment made before the plugin kept records of its own gets one.
    if (auto record = store.read(id); record && !*record) {
      if (auto written = store.write({id, key, found.netns, found.data}); !written) {
        return tl::unexpected(written.error());
      }
    }
    auto result = build_add_result(*prev, tap_interface(found, env), ipam_result, *config_dns, &index);
    return print_result(result, conf.cni_version);
  }

  // The plugin's record without vnetd's tap: an ADD of this attachment that
  // stopped halfway (the plugin killed), or whose tap vnetd removed with its
  // namespace. What it holds is released before anything is allocated again.
  auto stale = store.read(id);
  if (!stale) return tl::unexpected(stale.error());
  if (*stale) {
    if ((*stale)->key != key) return collision("record " + store.path_of(id), (*stale)->key, key);
    if (auto removed = remove_netdevs(*vnetd, id, std::nullopt); !removed) return tl::unexpected(removed.error());
    if (auto released = release_addresses((*stale)->data, key, (*stale)->netns, env.path, in.environment);
        !released) {
      return tl::unexpected(released.error());
    }
  }

  // The record first: a plugin killed after the IPAM's ADD leaves it for GC.
  StoredAttachment record{id, key, env.netns, attachment_data(in, std::nullopt)};
  if (auto written = store.write(record); !written) return tl::unexpected(written.error());

  // Declared before the rollback, whose steps use them.
  std::optional<SuccessResult> ipam_result;
  std::optional<Ipam> ipam;
  std::string delegated = delegate_config(conf);
  bool released = conf.ipam_type.empty();
  Rollback rollback;
  rollback.add([&] {
    // Kept while the IPAM may still hold an address: GC releases it then.
    if (!released) return;
    if (auto removed = store.remove(id); !removed) note("undoing ADD: " + error_text(removed.error()));
  });
  if (!conf.ipam_type.empty()) {
    ipam.emplace(conf.ipam_type, env.path, in.environment);
    auto allocated = ipam->add(delegated, delegate_version(conf.cni_version));
    rollback.add([&] {
      auto undone = ipam->del(delegated);
      if (!undone) note("undoing ADD: IPAM DEL: " + error_text(undone.error()));
      released = undone.has_value();
    });
    if (!allocated) return tl::unexpected(allocated.error());
    ipam_result = std::move(*allocated);
    // The same file again, with the result: either version is a usable
    // record after a crash, so the directory needs no second fsync.
    record.data = attachment_data(in, ipam_result);
    if (auto written = store.write(record, false); !written) return tl::unexpected(written.error());
  }

  TapSpec spec;
  spec.netns = env.netns;
  spec.queues = conf.queues;
  spec.mtu = conf.mtu;
  spec.mac = *mac;
  spec.owner = conf.owner;
  spec.group = conf.group;
  spec.vhost = conf.vhost;
  if (conf.open_by_name) spec.hold_queues = false;
  spec.data = record.data;
  auto made = vnetd->add(id, key, spec);
  if (!made) return tl::unexpected(made.error());
  rollback.add([&] {
    if (auto removed = vnetd->remove(id); !removed) note("undoing ADD: netdev_del " + id + ": " + error_text(removed.error()));
  });
  if (conf.anti_spoof) {
    std::vector<IpConfig> ips = ipam_result ? ipam_result->ips : std::vector<IpConfig>{};
    auto nic = vnetd->add_netdev(nic_add_arguments(id, guest_mac_of(conf, *made), allowed_ips_of(ips)));
    if (!nic) return tl::unexpected(nic.error());
    rollback.add([&] {
      std::string nic_id = nic_id_for(id);
      if (auto removed = vnetd->remove(nic_id); !removed) {
        note("undoing ADD: netdev_del " + nic_id + ": " + error_text(removed.error()));
      }
    });
  }

  auto result = build_add_result(*prev, tap_interface(*made, env), ipam_result, *config_dns, &index);
  auto out = print_result(result, conf.cni_version);
  if (!out) return out;
  if (ipam_result) {
    if (auto configured = configure_interface(env.netns, env.ifname, result, index); !configured) {
      return tl::unexpected(configured.error());
    }
  }
  rollback.dismiss();
  return out;
}

Expected<Output> cmd_del(const Invocation& in) {
  const NetConf& conf = in.conf;
  const CniEnv& env = in.env;
  AttachmentKey key = key_of(in);
  std::string id = netdev_id_for(key);
  std::optional<CniError> first_error;
  auto keep = [&](const CniError& error) {
    if (!first_error) first_error = error;
  };

  // The plugin's own record: what ADD stored, when vnetd no longer has it.
  AttachmentStore store(conf.data_dir, conf.name);
  std::optional<StoredAttachment> record;
  bool foreign_record = false;
  if (auto stored = store.read(id); !stored) {
    // Not a record (written by hand?): DEL goes on with the configuration,
    // and removes the file once done.
    note("DEL without a record: " + error_text(stored.error()));
  } else if (*stored && (*stored)->key != key) {
    foreign_record = true;
    note("DEL leaves alone " + error_text(collision("record " + store.path_of(id), (*stored)->key, key).value()));
  } else {
    record = std::move(*stored);
  }

  // The netdevs first: the address goes back to the IPAM only once no
  // device holds it.
  std::optional<json> data;  // what ADD stored, vnetd's record first
  auto vnetd = VnetdAttachments::connect(conf.socket);
  if (!vnetd) {
    // With the namespace gone there is no device left to delete: vnetd
    // removes a netdev whose namespace went away. Otherwise a retry must
    // find vnetd.
    if (!env.netns.empty() && netns_exists(env.netns)) keep(vnetd.error());
    else note("vnetd is not answering; the namespace is gone, so is the tap: " + error_text(vnetd.error()));
  } else if (auto existing = vnetd->find(id); !existing) {
    if (existing.error().code == kAttachmentConflict) note("DEL leaves alone " + error_text(existing.error()));
    else keep(existing.error());
  } else if (*existing && (*existing)->key != key) {
    note("DEL leaves alone " + error_text(conflict_if_not_ours(**existing, key).value()));
  } else {
    // This attachment's tap, or none left (an orphaned nic goes then).
    if (auto removed = remove_netdevs(*vnetd, id, *existing); !removed) keep(removed.error());
    if (*existing) data = (*existing)->data;
  }
  if (!data && record) data = record->data;

  // The IPAM's DEL with what ADD allocated with; with the request's
  // configuration when nothing of the ADD is left (or it never happened).
  Expected<void> released;
  if (data) {
    released = release_addresses(*data, key, env.netns, env.path, in.environment);
  } else if (!conf.ipam_type.empty()) {
    released = Ipam(conf.ipam_type, env.path, in.environment).del(delegate_config(conf));
  }
  if (!released) keep(released.error());
  if (!first_error && !foreign_record) {
    if (auto removed = store.remove(id); !removed) keep(removed.error());
  }
  if (first_error) return tl::unexpected(*first_error);
  return Output();
}

Expected<Output> cmd_check(const Invocation& in) {
  const NetConf& conf = in.conf;
  const CniEnv& env = in.env;
  if (conf.prev_result.is_null()) return fail(kInvalidConfig, "required prevResult missing");
  auto prev = parse_result(conf.prev_result, conf.cni_version);
  if (!prev) return tl::unexpected(prev.error());
  auto index = find_interface(*prev, env.ifname, env.netns);
  if (!index) {
    return fail(kCheckFailed, "prevResult has no interface " + env.ifname + " in sandbox " + env.netns);
  }

  AttachmentKey key = key_of(in);
  std::string id = netdev_id_for(key);
  auto vnetd = VnetdAttachments::connect(conf.socket);
  if (!vnetd) return tl::unexpected(vnetd.error());
  auto existing = vnetd->find(id);
  if (!existing) return tl::unexpected(existing.error());
  if (!*existing) return fail(kCheckFailed, "vnetd has no netdev " + id + " for this attachment");
  if ((*existing)->key != key) return conflict_if_not_ours(**existing, key);
  if (!same_netns((*existing)->netns, env.netns)) {
    return fail(kCheckFailed, "vnetd's tap " + id + " is in " + (*existing)->netns + ", not " + env.netns);
  }
  if (conf.anti_spoof) {
    // The nic allows the guest's MAC (when the configuration names it) and
    // every address prevResult gives this interface.
    std::vector<IpConfig> ips;
    for (const auto& ip : prev->ips) {
      if (ip.interface && *ip.interface == static_cast<int64_t>(*index)) ips.push_back(ip);
    }
    auto nic = vnetd->netdev(nic_id_for(id));
    if (!nic) return tl::unexpected(nic.error());
    auto mismatches = nic_mismatches(*nic, id, conf.guest_mac, allowed_ips_of(ips));
    if (!mismatches.empty()) {
      std::string details;
      for (const auto& mismatch : mismatches) details += (details.empty() ? "" : "; ") + mismatch;
      return fail(kCheckFailed, "anti-spoofing is not as configured: " + mismatches.front(), details);
    }
  }

  if (!conf.ipam_type.empty()) {
    Ipam ipam(conf.ipam_type, env.path, in.environment);
    if (auto checked = ipam.check(delegate_config(conf)); !checked) return tl::unexpected(checked.error());
  }

  auto seen = observe_interface(env.netns, env.ifname);
  if (!seen) return tl::unexpected(seen.error());
  auto mismatches = check_mismatches(*seen, *prev, *index);
  if (!mismatches.empty()) {
    std::string details;
    for (const auto& mismatch : mismatches) details += (details.empty() ? "" : "; ") + mismatch;
    return fail(kCheckFailed, env.ifname + " in " + env.netns + " is not as prevResult says: " + mismatches.front(),
                details);
  }
  return Output();
}

Expected<Output> cmd_status(const Invocation& in) {
  const NetConf& conf = in.conf;
  auto vnetd = VnetdAttachments::connect(conf.socket);
  if (!vnetd) return fail(kNotAvailable, "The plugin is not available: vnetd is not answering on " + conf.socket,
                          vnetd.error().details);
  if (auto answered = vnetd->ping(); !answered) {
    return fail(kNotAvailable, "The plugin is not available: vnetd does not answer requests", answered.error().msg);
  }
  if (!conf.ipam_type.empty()) {
    // A delegate ADD depends on must answer STATUS too (SPEC.md, "STATUS"),
    // if it knows the command: 1.1.0 brought it.
    Ipam ipam(conf.ipam_type, in.env.path, in.environment);
    auto speaks = ipam.speaks("1.1.0");
    if (!speaks) {
      return fail(kNotAvailable, "The plugin is not available: IPAM plugin " + conf.ipam_type + ": " +
                                     speaks.error().msg, speaks.error().details);
    }
    if (*speaks) {
      if (auto status = ipam.status(in.input); !status) return tl::unexpected(status.error());
    }
  }
  return Output();
}

Expected<Output> cmd_version(const Invocation& in) { return Output(version_json(in.input)); }

Expected<Output> cmd_gc(const Invocation& in) {
  const NetConf& conf = in.conf;
  if (!conf.valid_attachments) {
    return fail(kInvalidConfig, "GC without cni.dev/valid-attachments",
                "the runtime lists the attachments to keep; without the list nothing is collected");
  }
  auto vnetd = VnetdAttachments::connect(conf.socket);
  if (!vnetd) return tl::unexpected(vnetd.error());
  auto attachments = vnetd->list(conf.name);
  if (!attachments) return tl::unexpected(attachments.error());

  // GC goes on past a failure and reports them all (SPEC.md, "GC").
  std::vector<CniError> errors;
  AttachmentStore store(conf.data_dir, conf.name);
  std::vector<std::string> unreadable;
  auto records = store.list(&unreadable);
  if (!records) return tl::unexpected(records.error());
  for (const auto& problem : unreadable) errors.push_back({kDecodingFailure, problem, ""});

  // Both records of each attachment by netdev id: vnetd's tap, and the
  // plugin's own, which outlives a tap vnetd removed with its namespace and
  // is there from before the IPAM's ADD.
  struct Known {
    std::optional<Attachment> tap;
    std::optional<StoredAttachment> record;
  };
  std::map<std::string, Known> known;
  for (auto& attachment : *attachments) known[attachment.id].tap = std::move(attachment);
  for (auto& record : *records) known[record.id].record = std::move(record);

  size_t stale = 0;
  for (const auto& [id, found] : known) {
    const AttachmentKey& key = found.tap ? found.tap->key : found.record->key;
    AttachmentRef ref{key.container_id, key.ifname};
    bool valid = false;
    for (const auto& kept : *conf.valid_attachments) valid = valid || kept == ref;
    if (valid) continue;
    stale++;
    if (auto removed = remove_netdevs(*vnetd, id, found.tap); !removed) {
      errors.push_back(removed.error());
      continue;  // the tap may still hold its address: keep the allocation
    }
    // The IPAM DEL the missed DEL would have made, with that attachment's
    // own CNI_* values (host-local releases by container id and ifname).
    bool same_key = found.record && found.record->key == key;
    const json& data = found.tap ? found.tap->data : found.record->data;
    const std::string& netns = found.tap ? found.tap->netns : found.record->netns;
    if (auto released = release_addresses(data, key, netns, in.env.path, in.environment); !released) {
      errors.push_back(released.error());
      continue;  // the record stays for the next GC
    }
    if (same_key) {
      if (auto removed = store.remove(id); !removed) errors.push_back(removed.error());
    }
  }
  if (!conf.ipam_type.empty()) {
    // Delegates get the GC too (SPEC.md: "Plugins MUST, additionally,
    // forward any GC calls to delegated plugins"), if they know it.
    Ipam ipam(conf.ipam_type, in.env.path, in.environment);
    auto speaks = ipam.speaks("1.1.0");
    if (!speaks) {
      errors.push_back(speaks.error());
    } else if (*speaks) {
      if (auto collected = ipam.gc(in.input); !collected) errors.push_back(collected.error());
    }
  }
  if (errors.empty()) return Output();
  std::string details;
  for (const auto& error : errors) details += (details.empty() ? "" : "; ") + error_text(error);
  CniError first = errors.front();
  first.msg = "GC: " + std::to_string(errors.size()) + " failure(s) among " + std::to_string(stale) +
              " stale attachment(s): " + first.msg;
  first.details = details;
  return tl::unexpected(first);
}

json version_json(const std::string& input) {
  std::string asked(kCurrentVersion);
  auto request = json::parse(input, nullptr, false);
  if (request.is_object() && request.contains("cniVersion") && request["cniVersion"].is_string() &&
      version_supported(request["cniVersion"].get<std::string>())) {
    asked = request["cniVersion"].get<std::string>();
  }
  json versions = json::array();
  for (auto version : kSupportedVersions) versions.push_back(std::string(version));
  return {{"cniVersion", asked}, {"supportedVersions", versions}};
}

}  // namespace vnet::cni
