// VnetdCommands - the daemon's answer to every command of the schema.
// Session-level commands are in session_commands.cpp, netdev commands in
// netdev_commands.cpp.
#pragma once

#include <array>
#include <functional>
#include <unordered_map>

#include "ctl/announcer.h"
#include "ctl/backend_factory.h"
#include "ctl/daemon_state.h"
#include "ctl/name_waits.h"
#include "ctl/script_runs.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/event_sink.h"
#include "ctl/qmp/session.h"
#include "ctl/vmm/vmm_attachments.h"
#include "qapi_commands.h"

namespace vnet {

namespace nic {
class NicBackend;
}

class VnetdCommands : public qapi::CommandHandlers {
 public:
  VnetdCommands(NetdevRegistry& registry, DaemonResources& resources, qmp::EventSink& events, Announcer& announcer)
      : registry_(registry), resources_(resources), events_(events), announcer_(announcer) {}

  // Saves what changes into the state dir (none in tests that do not care).
  void set_state(DaemonState* state) { state_ = state; }
  // Where vmm-attach keeps its attachments (none: the commands say so).
  void set_vmm_attachments(vmm::VmmAttachments* attachments) { vmm_ = attachments; }
  // Without it, a tap add whose ifname a teardown still holds blocks the loop until it is free.
  void set_name_waits(NameWaits* waits) { name_waits_ = waits; }
  // Without it, a tap's up-script runs on the loop, blocking it until it ends.
  void set_script_runs(ScriptRuns* runs) { script_runs_ = runs; }
  // Programs a NIC's rx filter as set-rx-filter does (also from a VMM's).
  QmpResult<Empty> program_rx_filter(const qapi::RxFilterInfo& info);
  // A restarted daemon re-adopting one record of its state file.
  Result<void> restore_netdev(const nlohmann::ordered_json& record);

  // For --config: netdevs made at start and by rules. arguments are
  // netdev_add's; device, for a tap or bridge netdev, is an existing tap to
  // adopt (managed without creating or deleting it).
  bool has_netdev(const std::string& id) { return registry_.find(id) != nullptr; }
  Result<void> adopt_netdev(const nlohmann::ordered_json& arguments, const std::optional<rtnl::Link>& device);
  void remove_netdev(const std::string& id);
  Result<void> set_tap_offloads(const std::string& id, unsigned flags);
  // The uid that owns netdev id for the access layer (ctl/access): its tap's
  // owner= or, for a NIC, its peer tap's; nullopt if none or no such netdev.
  std::optional<uint32_t> netdev_owner(const std::string& id);
  // Where udev-event hands its events (the daemon applies rules later).
  void set_udev_handler(std::function<void(const qapi::UdevEventArgs&)> handler) {
    udev_handler_ = std::move(handler);
  }

  QmpResult<Empty> qmp_qmp_capabilities(qapi::CommandContext& ctx, const qapi::QmpCapabilitiesArgs& args) override;
  QmpResult<qapi::VersionInfo> qmp_query_version(qapi::CommandContext& ctx) override;
  QmpResult<std::vector<qapi::CommandInfo>> qmp_query_commands(qapi::CommandContext& ctx) override;
  QmpResult<std::vector<nlohmann::ordered_json>> qmp_query_qmp_schema(qapi::CommandContext& ctx) override;
  QmpResult<Empty> qmp_getfd(qapi::CommandContext& ctx, const qapi::GetfdArgs& args) override;
  QmpResult<Empty> qmp_closefd(qapi::CommandContext& ctx, const qapi::ClosefdArgs& args) override;

  QmpResult<Empty> qmp_set_link(qapi::CommandContext& ctx, const qapi::SetLinkArgs& args) override;
  QmpResult<Empty> qmp_netdev_add(qapi::CommandContext& ctx, const qapi::Netdev& args) override;
  QmpResult<Empty> qmp_netdev_del(qapi::CommandContext& ctx, const qapi::NetdevDelArgs& args) override;
  QmpResult<std::vector<qapi::RxFilterInfo>> qmp_query_rx_filter(qapi::CommandContext& ctx,
                                                                 const qapi::QueryRxFilterArgs& args) override;
  QmpResult<Empty> qmp_announce_self(qapi::CommandContext& ctx, const qapi::AnnounceParameters& args) override;
  QmpResult<std::vector<qapi::NetdevInfo>> qmp_query_netdevs(qapi::CommandContext& ctx,
                                                          const qapi::QueryNetdevsArgs& args) override;
  QmpResult<std::vector<qapi::HubInfo>> qmp_query_hubs(qapi::CommandContext& ctx) override;
  QmpResult<qapi::NetdevFds> qmp_netdev_get_fds(qapi::CommandContext& ctx,
                                                const qapi::NetdevGetFdsArgs& args) override;
  QmpResult<Empty> qmp_set_rx_filter(qapi::CommandContext& ctx, const qapi::RxFilterInfo& args) override;
  QmpResult<Empty> qmp_udev_event(qapi::CommandContext& ctx, const qapi::UdevEventArgs& args) override;
  QmpResult<Empty> qmp_set_nic_features(qapi::CommandContext& ctx, const qapi::SetNicFeaturesArgs& args) override;
  QmpResult<Empty> qmp_set_anti_spoof(qapi::CommandContext& ctx, const qapi::SetAntiSpoofArgs& args) override;
  QmpResult<Empty> qmp_set_announce_addresses(qapi::CommandContext& ctx,
                                              const qapi::SetAnnounceAddressesArgs& args) override;
  QmpResult<qapi::VdpaSelftestResult> qmp_vdpa_selftest(qapi::CommandContext& ctx,
                                                        const qapi::VdpaSelftestArgs& args) override;
  QmpResult<Empty> qmp_vmm_attach(qapi::CommandContext& ctx, const qapi::VmmAttachArgs& args) override;
  QmpResult<Empty> qmp_vmm_detach(qapi::CommandContext& ctx, const qapi::VmmDetachArgs& args) override;
  QmpResult<std::vector<qapi::VmmAttachmentInfo>> qmp_query_vmm_attachments(qapi::CommandContext& ctx) override;

 private:
  NetdevRegistry& registry_;
  DaemonResources& resources_;
  qmp::EventSink& events_;
  Announcer& announcer_;
  DaemonState* state_ = nullptr;
  vmm::VmmAttachments* vmm_ = nullptr;
  NameWaits* name_waits_ = nullptr;
  ScriptRuns* script_runs_ = nullptr;
  // Adds waiting for their tap's up-script: id -> ifname. Both are taken.
  std::unordered_map<std::string, std::string> adds_running_scripts_;
  std::function<void(const qapi::UdevEventArgs&)> udev_handler_;
  // ifname -> id of the netdev whose tap vnetd created (created_tap_owner).
  std::unordered_map<std::string, std::string> created_taps_;
  std::optional<std::string> created_tap_owner(const std::string& ifname);
  // The NIC name names: DeviceNotFound for no netdev, QEMU's text for another kind.
  QmpResult<nic::NicBackend*> find_nic(const std::string& name);

  // Why netdev id may not be deleted now (a NIC attached to a VMM, or its tap).
  std::optional<std::string> vmm_attachment_of(const std::string& id);
  QmpResult<NetdevEntry*> add_netdev(const qapi::Netdev& args, const BackendRequest& request);
  // add_netdev()'s two halves: QEMU's checks and the backend; then the entry.
  QmpResult<std::unique_ptr<Backend>> checked_backend(const qapi::Netdev& args, const BackendRequest& request);
  QmpResult<NetdevEntry*> register_netdev(const qapi::Netdev& args, std::unique_ptr<Backend> backend);
  // A tap add whose up-script runs off the loop; reply answers it after.
  void add_running_script(const qapi::Netdev& args, const BackendRequest& request,
                          std::shared_ptr<qmp::DeferredReply> reply);
  bool runs_script(const qapi::Netdev& args) const;
  void answer_add(const qapi::Netdev& args, const QmpResult<NetdevEntry*>& added, qmp::DeferredReply& reply);
  std::optional<std::string> name_still_held(const qapi::Netdev& args);
  // Netdev id (and its peer) changed: journaled at the end of this turn.
  void state_changed(const std::string& id) {
    if (state_) state_->changed(id);
  }
  // A change that could not be recorded is refused before it is made.
  std::optional<QmpError> refuse_unrecordable() {
    if (!state_) return std::nullopt;
    if (auto room = state_->reserve_change(); !room) {
      return generic_error("vnetd cannot record a change in its state dir (" + room.error().message +
                           "): nothing was changed");
    }
    return std::nullopt;
  }
};

// As qemu_macaddr_default_if_unset(): 52:54:00:12:34:56 plus the first
// index no NIC uses yet.
std::array<uint8_t, 6> default_mac(const NetdevRegistry& registry);

// As QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'.
bool id_wellformed(const std::string& id);

}  // namespace vnet
