// netdev_add, netdev_del, set_link, query-netdevs, netdev-get-fds and the
// NIC commands, with QEMU's checks in QEMU's order.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>

#include "backends/netmap/netmap_support.h"
#include "backends/nic/nic_backend.h"
#include "backends/tap/tap_backend.h"
#include "ctl/backend_factory.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/qmp/qemu_json_writer.h"
#include "ctl/qmp/qemu_texts.h"
#include "qapi_encode.h"

namespace vnet {

using qapi::CommandContext;
using qapi::NetClientDriver;
namespace texts = qmp::texts;

bool id_wellformed(const std::string& id) {
  if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

namespace {

QmpError device_not_found(const std::string& id) { return {ErrorClass::DeviceNotFound, texts::device_not_found(id)}; }

// The tap a netdev's backend made or holds: a tap netdev's, or a NIC's own.
const tap::TapBackend* tap_of(const Backend* backend) {
  if (const auto* nic = dynamic_cast<const nic::NicBackend*>(backend)) backend = nic->guest_tap();
  return dynamic_cast<const tap::TapBackend*>(backend);
}

// The tap name a new netdev asks for, if any (a tap's, or a NIC's own).
// The name a new tap in vnetd's namespace asks for. One in another namespace
// (netns=) is not indexed by name: it is always made anew there, and the
// kernel refuses a name its namespace has.
std::optional<std::string> requested_ifname(const qapi::Netdev& netdev) {
  if (const auto* tap = std::get_if<qapi::NetdevTapOptions>(&netdev.u)) {
    return tap->netns ? std::nullopt : tap->ifname;
  }
  if (const auto* nic = std::get_if<qapi::NetLegacyNicOptions>(&netdev.u)) return nic->ifname;
  return std::nullopt;
}

// The netdev a new one asks to be peered with, if any.
std::optional<std::string> requested_peer(const qapi::Netdev& netdev) {
  if (const auto* hub = std::get_if<qapi::NetdevHubPortOptions>(&netdev.u)) return hub->netdev;
  if (const auto* nic = std::get_if<qapi::NetLegacyNicOptions>(&netdev.u)) return nic->netdev;
  return std::nullopt;
}


// Types that are not backends at all, or that this vnetd cannot build,
// refused before anything else as net_client_init1() refuses a type QEMU was
// built without.
std::optional<QmpError> refuse_non_backend(const qapi::Netdev& netdev) {
  if (netdev.type == NetClientDriver::none) return generic_error(texts::backend_not_compiled("none"));
  if (const auto* options = std::get_if<qapi::NetdevNetmapOptions>(&netdev.u)) {
    return generic_error(netmap::unsupported(options->devname.value_or(netmap::kDefaultDevice)).message);
  }
  return std::nullopt;
}

}  // namespace

// As qemu_macaddr_default_if_unset(): 52:54:00:12:34:56 plus the first index
// no NIC uses yet.
std::array<uint8_t, 6> default_mac(const NetdevRegistry& registry) {
  std::array<uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  for (int index = 0; index < 256; index++) {
    mac[5] = static_cast<uint8_t>(0x56 + index);
    bool used = false;
    for (const auto& entry : registry.all()) {
      if (const auto* nic = dynamic_cast<const nic::NicBackend*>(entry->backend.get())) used |= nic->identity().mac == mac;
    }
    if (!used) break;
  }
  return mac;
}

QmpResult<Empty> VnetdCommands::qmp_netdev_add(CommandContext& ctx, const qapi::Netdev& args) {
  BackendRequest request{[&ctx](const std::string& name) { return ctx.session.take_named_fd(name); }, {}, {}};
  // Only a NIC without macaddr needs one (it scans every netdev).
  if (const auto* nic = std::get_if<qapi::NetLegacyNicOptions>(&args.u); nic && !nic->macaddr) {
    request.default_mac = default_mac(registry_);
  }
  if (auto held = name_still_held(args)) {
    // Answered once the kernel has freed the name; other clients are served meanwhile.
    // The request's named-fd taker refers to this call's context, gone by
    // then: such adds never wait (name_still_held), so later there are none.
    name_waits_->when_free(*held, [this, args, reply = ctx.defer()] {
      BackendRequest later{[](const std::string&) { return std::optional<UniqueFd>(); }, {}, {}};
      if (runs_script(args)) return add_running_script(args, later, reply);
      answer_add(args, add_netdev(args, later), *reply);
    });
    return Empty{};
  }
  if (runs_script(args)) {
    add_running_script(args, request, ctx.defer());
    return Empty{};
  }
  auto added = add_netdev(args, request);
  if (!added) return added.error();
  state_changed(args.id);
  return Empty{};
}

// A tap with an up-script, when the daemon can wait for one off its loop.
// One that takes named vhost fds does not wait: those belong to the request.
bool VnetdCommands::runs_script(const qapi::Netdev& args) const {
  const auto* tap = std::get_if<qapi::NetdevTapOptions>(&args.u);
  return script_runs_ && tap && tap->script && *tap->script != "no" && !tap->vhostfd && !tap->vhostfds;
}

// The tap is made at once; its add is answered when its up-script ends, and
// is undone if the script fails. Meanwhile its id and ifname are taken and
// other clients are served.
void VnetdCommands::add_running_script(const qapi::Netdev& args, const BackendRequest& request,
                                       std::shared_ptr<qmp::DeferredReply> reply) {
  BackendRequest deferring = request;
  deferring.defer_script = true;
  auto made = checked_backend(args, deferring);
  if (!made) return reply->resolve(made.error());
  std::unique_ptr<Backend> made_backend = std::move(made.value());
  auto* tap = dynamic_cast<tap::TapBackend*>(made_backend.get());
  if (!tap || tap->deferred_script().empty()) {
    return answer_add(args, register_netdev(args, std::move(made_backend)), *reply);
  }
  std::string script = tap->deferred_script();
  adds_running_scripts_[args.id] = tap->ifname();
  auto backend = std::make_shared<std::unique_ptr<Backend>>(std::move(made_backend));
  script_runs_->run({script, tap->ifname()}, resources_.programs.script_timeout,
                    [this, args, backend, reply, script, tap](Result<void> ran) {
                      adds_running_scripts_.erase(args.id);
                      if (!ran) {
                        tap->undo_create();
                        backend->reset();
                        return reply->resolve(generic_error("network script " + script + ": " + ran.error().message));
                      }
                      answer_add(args, register_netdev(args, std::move(*backend)), *reply);
                    });
}

// A deferred netdev_add's answer: the error, or the change recorded and {}.
void VnetdCommands::answer_add(const qapi::Netdev& args, const QmpResult<NetdevEntry*>& added,
                               qmp::DeferredReply& reply) {
  if (!added) return reply.resolve(added.error());
  state_changed(args.id);
  reply.resolve(nlohmann::ordered_json::object());
}

// A tap add naming a device whose teardown (a netdev_del just before) has not
// freed the name yet. Only one that takes no named fds waits: those belong to
// the request's moment.
std::optional<std::string> VnetdCommands::name_still_held(const qapi::Netdev& args) {
  const auto* tap = std::get_if<qapi::NetdevTapOptions>(&args.u);
  if (!name_waits_ || !tap || !tap->ifname || tap->fd || tap->fds || tap->vhostfd || tap->vhostfds || tap->netns) {
    return std::nullopt;
  }
  if (!name_waits_->held(*tap->ifname)) return std::nullopt;
  return *tap->ifname;
}

QmpResult<NetdevEntry*> VnetdCommands::add_netdev(const qapi::Netdev& args, const BackendRequest& request) {
  auto backend = checked_backend(args, request);
  if (!backend) return backend.error();
  return register_netdev(args, std::move(backend.value()));
}

QmpResult<std::unique_ptr<Backend>> VnetdCommands::checked_backend(const qapi::Netdev& args,
                                                                   const BackendRequest& request) {
  if (!id_wellformed(args.id)) return generic_error(texts::parameter_expects("id", "an identifier"));
  if (auto refused = refuse_non_backend(args)) return *refused;
  if (registry_.find(args.id) || adds_running_scripts_.contains(args.id)) {
    return generic_error(texts::duplicate_id(args.id));
  }

  NetdevEntry* peer = nullptr;
  BackendRequest checked_request = request;
  if (auto peer_id = requested_peer(args)) {
    peer = registry_.find(*peer_id);
    if (!peer) return generic_error(texts::netdev_not_found(*peer_id));
    // QEMU asserts here and aborts; a netdev has one peer.
    if (!peer->peer.empty()) {
      return generic_error("netdev '" + *peer_id + "' is already connected to '" + peer->peer + "'");
    }
    // A NIC on a hub gets a tap for its VMM (docs/guests-on-hubs.md).
    if (args.type == NetClientDriver::nic && peer->type == NetClientDriver::hubport) checked_request.nic_gets_tap = true;
  }

  if (auto wanted = requested_ifname(args)) {
    if (auto owner = created_tap_owner(*wanted)) {
      return generic_error("tap '" + *wanted + "' is already netdev '" + *owner +
                           "': one netdev per tap device (delete that one first)");
    }
    for (const auto& [id, ifname] : adds_running_scripts_) {
      if (ifname == *wanted) {
        return generic_error("tap '" + ifname + "' is already netdev '" + id +
                             "' (its up-script is running): one netdev per tap device");
      }
    }
  }
  if (auto full = refuse_unrecordable()) return *full;
  return resources_.make_backend(args, resources_, checked_request);
}

QmpResult<NetdevEntry*> VnetdCommands::register_netdev(const qapi::Netdev& args, std::unique_ptr<Backend> backend) {
  NetdevEntry* peer = nullptr;
  if (auto peer_id = requested_peer(args)) {
    peer = registry_.find(*peer_id);
    if (!peer) return generic_error(texts::netdev_not_found(*peer_id));
  }
  auto entry = std::make_unique<NetdevEntry>();
  entry->id = args.id;
  entry->type = args.type;
  entry->options = args;
  entry->backend = std::move(backend);
  NetdevEntry& added = registry_.add(std::move(entry));
  if (peer) {
    if (auto paired = registry_.connect_peers(added, *peer); !paired) {
      registry_.remove(args.id);
      return generic_error("connecting '" + args.id + "' to '" + peer->id + "': " + paired.error().message);
    }
  }
  if (const auto* tap = tap_of(added.backend.get()); tap && tap->created() && !tap->netns()) {
    created_taps_[tap->ifname()] = added.id;
  }
  qmp::emit_event(events_, "VNET_NETDEV_ADDED", qapi::VnetNetdevAddedData{added.id, added.type});
  // What the backend made outlives the daemon only once its record is durable:
  // a crash before that leaves no device that no state knows of.
  if (state_) {
    state_->after_commit([this, id = added.id] {
      if (NetdevEntry* entry = registry_.find(id)) entry->backend->record_committed();
    });
  } else {
    added.backend->record_committed();
  }
  return &added;
}

// QEMU lets a second tap netdev open more queues of a multi-queue tap the
// first one made; here deleting the first would delete the tap under the
// second. So one netdev per tap device vnetd made (a tap made by someone else
// outlives its netdevs, and QEMU's own checks apply to it). The index is
// checked against the registry when read, so a deleted netdev needs no hook.
std::optional<std::string> VnetdCommands::created_tap_owner(const std::string& ifname) {
  auto it = created_taps_.find(ifname);
  if (it == created_taps_.end()) return std::nullopt;
  NetdevEntry* entry = registry_.find(it->second);
  const auto* tap = entry ? tap_of(entry->backend.get()) : nullptr;
  if (tap && tap->created() && tap->ifname() == ifname) return it->second;
  created_taps_.erase(it);
  return std::nullopt;
}

std::optional<uint32_t> VnetdCommands::netdev_owner(const std::string& id) {
  NetdevEntry* entry = registry_.find(id);
  if (entry && entry->type == NetClientDriver::nic) entry = registry_.find(entry->peer);
  if (!entry) return std::nullopt;
  const auto* tap = std::get_if<qapi::NetdevTapOptions>(&entry->options.u);
  return tap ? tap->owner : std::nullopt;
}

QmpResult<Empty> VnetdCommands::qmp_netdev_del(CommandContext&, const qapi::NetdevDelArgs& args) {
  if (!registry_.find(args.id)) return device_not_found(args.id);
  if (auto full = refuse_unrecordable()) return *full;
  if (auto attached = vmm_attachment_of(args.id)) return generic_error(*attached);
  std::string peer = registry_.find(args.id)->peer;
  registry_.remove(args.id);
  qmp::emit_event(events_, "VNET_NETDEV_DELETED", qapi::VnetNetdevDeletedData{args.id});
  state_changed(args.id);
  if (!peer.empty()) state_changed(peer);
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_set_link(CommandContext&, const qapi::SetLinkArgs& args) {
  NetdevEntry* entry = registry_.find(args.name);
  if (!entry) return device_not_found(args.name);
  if (auto full = refuse_unrecordable()) return *full;
  if (auto changed = entry->backend->set_link(args.up); !changed) return generic_error(changed.error().message);
  bool was_up = entry->link_up;
  entry->link_up = args.up;
  // As qmp_set_link(): a NIC peer follows its backend's link; hubs and other
  // backends keep theirs.
  if (NetdevEntry* peer = registry_.find(entry->peer); peer && peer->type == NetClientDriver::nic) {
    peer->link_up = args.up;
  }
  if (was_up != args.up) qmp::emit_event(events_, "VNET_LINK_CHANGED", qapi::VnetLinkChangedData{args.name, args.up});
  state_changed(args.name);
  return Empty{};
}

namespace {

qapi::NetdevInfo netdev_info(const NetdevEntry& entry) {
  qapi::NetdevInfo info;
  info.id = entry.id;
  info.type = entry.type;
  info.link_up = entry.link_up;
  if (!entry.peer.empty()) info.peer = entry.peer;
  if (const auto* hub = std::get_if<qapi::NetdevHubPortOptions>(&entry.options.u)) info.hubid = hub->hubid;
  // Written out here, netdev by netdev: 10,000 netdevs' details are never
  // all held as trees at once.
  auto details = details_json(*entry.backend);
  // Who a CNI plugin made it for: kept in its options, shown where the
  // plugin looks (GC walks these).
  if (const auto* tap = std::get_if<qapi::NetdevTapOptions>(&entry.options.u); tap && tap->attachment) {
    qapi::to_json(details["attachment"], *tap->attachment);
  }
  if (!details.empty()) info.details = qmp::prerendered_json(qmp::to_qemu_json(details));
  return info;
}

}  // namespace

QmpResult<std::vector<qapi::NetdevInfo>> VnetdCommands::qmp_query_netdevs(CommandContext&,
                                                                         const qapi::QueryNetdevsArgs& args) {
  if (args.id) {
    // One netdev: a lookup by id, whatever the registry holds.
    const NetdevEntry* entry = registry_.find(*args.id);
    if (!entry) return device_not_found(*args.id);
    return std::vector<qapi::NetdevInfo>{netdev_info(*entry)};
  }
  std::vector<qapi::NetdevInfo> out;
  out.reserve(registry_.all().size());
  for (const auto& entry : registry_.all()) out.push_back(netdev_info(*entry));
  return out;
}

QmpResult<std::vector<qapi::HubInfo>> VnetdCommands::qmp_query_hubs(CommandContext&) {
  std::vector<qapi::HubInfo> out;
  for (int32_t hubid : resources_.hubs.hub_ids()) {
    qapi::HubInfo info;
    info.hubid = hubid;
    info.ports = resources_.hubs.ports(hubid);
    info.forwarding = resources_.hubs.forwarding(hubid);
    if (auto why = resources_.hubs.userspace_reason(hubid); !why.empty()) info.userspace_reason = why;
    out.push_back(std::move(info));
  }
  return out;
}

QmpResult<qapi::NetdevFds> VnetdCommands::qmp_netdev_get_fds(CommandContext& ctx,
                                                             const qapi::NetdevGetFdsArgs& args) {
  NetdevEntry* entry = registry_.find(args.id);
  if (!entry) return device_not_found(args.id);
  if (const auto* options = std::get_if<qapi::NetdevTapOptions>(&entry->options.u);
      options && options->hold_queues == false) {
    return generic_error("netdev '" + args.id + "': hold-queues=false: vnetd holds none of its queues; the VMM opens "
                         "the tap \"" + tap_of(entry->backend.get())->ifname() + "\" by name");
  }
  qapi::NetdevFds out;
  std::vector<UniqueFd> copies;
  for (const auto& fd : entry->backend->fds()) {
    // The daemon keeps its own reference; the VMM gets a duplicate.
    UniqueFd copy(fcntl(fd.fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return generic_error(errno_error("duplicating fd of netdev '" + args.id + "'").message);
    copies.push_back(std::move(copy));
    auto role = fd.role == FdRole::tap     ? qapi::NetdevFdRole::tap
                : fd.role == FdRole::vhost ? qapi::NetdevFdRole::vhost
                                           : qapi::NetdevFdRole::vhost_vdpa;
    out.fds.push_back({role, fd.queue});
  }
  ctx.reply_fds = std::move(copies);
  return out;
}

}  // namespace vnet
