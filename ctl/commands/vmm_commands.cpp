// vmm-attach, vmm-detach and query-vmm-attachments: the checks on vnetd's
// side, then the work in ctl/vmm/ (docs/vmm-attach.md).
#include <fcntl.h>

#include "backends/nic/nic_backend.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/qmp/qemu_texts.h"

namespace vnet {

using qapi::CommandContext;
namespace texts = qmp::texts;

namespace {

// QEMU answers query-rx-filter for virtio-net devices only, so only they can
// be followed.
bool reports_rx_filter(const std::string& driver) { return driver.rfind("virtio-net", 0) == 0; }

}  // namespace

QmpResult<Empty> VnetdCommands::qmp_vmm_attach(CommandContext& ctx, const qapi::VmmAttachArgs& args) {
  if (!vmm_) return generic_error("vmm-attach is not available in this vnetd");
  NetdevEntry* entry = registry_.find(args.nic);
  if (!entry) return QmpError{ErrorClass::DeviceNotFound, texts::device_not_found(args.nic)};
  auto* nic = dynamic_cast<nic::NicBackend*>(entry->backend.get());
  if (!nic) return generic_error(texts::not_a_nic(args.nic));
  if (const auto* attached = vmm_->find(args.nic)) {
    return generic_error("NIC '" + args.nic + "' is already attached to " + vmm::describe(attached->qmp) +
                         " (device '" + attached->device + "'): vmm-detach it first");
  }
  // The NIC's own tap (a NIC on a hub), or its tap peer.
  NetdevEntry* peer = registry_.find(entry->peer);
  const Backend* tap = nic->guest_tap();
  std::string tap_name = "of NIC '" + args.nic + "'";
  if (!tap && peer && peer->type == qapi::NetClientDriver::tap) {
    tap = peer->backend.get();
    tap_name = "'" + peer->id + "'";
  }
  if (!tap) {
    return generic_error("NIC '" + args.nic + "' has no tap peer: vmm-attach hands a tap's fds to the VMM and " +
                         "enforces the guest's filter on that tap");
  }
  vmm::AttachmentSpec spec;
  spec.nic = args.nic;
  spec.qmp = args.qmp;
  spec.device = args.device.value_or(args.nic);
  spec.hotplug = args.hotplug.value_or(true);
  if (!id_wellformed(spec.device)) return generic_error(texts::parameter_expects("device", "an identifier"));
  std::vector<vmm::HandedFd> fds;
  if (spec.hotplug) {
    spec.driver = args.driver.value_or("virtio-net-pci");
    spec.bus = args.bus.value_or("");
    spec.netdev = "vnetd-" + args.nic;
    spec.mac = nic::format_mac(nic->identity().mac);
    if (!reports_rx_filter(spec.driver)) {
      return generic_error("driver '" + spec.driver + "': QEMU reports the rx filter of virtio-net devices only " +
                           "(virtio-net-pci, virtio-net-pci-non-transitional, ...), so vnetd cannot follow it");
    }
    for (const auto& fd : tap->fds()) {
      // The VMM gets duplicates: the tap stays vnetd's.
      UniqueFd copy(fcntl(fd.fd, F_DUPFD_CLOEXEC, 0));
      if (!copy) return generic_error(errno_error("duplicating an fd of tap " + tap_name).message);
      fds.push_back({fd.role == FdRole::vhost, fd.queue, std::move(copy)});
    }
    if (fds.empty()) {
      return generic_error("tap " + tap_name + " holds no queue fds in vnetd (they are all held elsewhere since " +
                           "a restart): it cannot be handed to a VMM");
    }
  } else if (args.driver || args.bus) {
    return generic_error("driver and bus are for hotplug: with hotplug off the device already exists in the VMM");
  }
  if (auto full = refuse_unrecordable()) return *full;
  auto reply = ctx.defer();
  if (auto started = vmm_->attach(std::move(spec), std::move(fds), reply); !started) {
    ctx.deferred.reset();
    return generic_error(started.error().message);
  }
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_vmm_detach(CommandContext& ctx, const qapi::VmmDetachArgs& args) {
  if (!vmm_) return generic_error("vmm-detach is not available in this vnetd");
  return vmm_->detach(args.nic, ctx.defer());
}

QmpResult<std::vector<qapi::VmmAttachmentInfo>> VnetdCommands::qmp_query_vmm_attachments(CommandContext&) {
  if (!vmm_) return std::vector<qapi::VmmAttachmentInfo>{};
  return vmm_->query();
}

std::optional<std::string> VnetdCommands::vmm_attachment_of(const std::string& id) {
  if (!vmm_) return std::nullopt;
  NetdevEntry* entry = registry_.find(id);
  if (!entry) return std::nullopt;
  for (const std::string& nic : {entry->id, entry->peer}) {
    if (const auto* attached = !nic.empty() ? vmm_->find(nic) : nullptr) {
      return "netdev '" + id + "' is in use by NIC '" + nic + "', attached to " + vmm::describe(attached->qmp) +
             ": vmm-detach it first";
    }
  }
  return std::nullopt;
}

}  // namespace vnet
