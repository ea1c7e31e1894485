// VmmAttachments - vnetd's NICs attached to running VMMs (vmm-attach): the
// hotplug of a tap's fds and the guest device into the VMM, following the
// guest's rx filter from the VMM's events, and vmm-detach. One Attachment
// per NIC, each with its own VmmMonitor; all on the daemon's event loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/loop/event_loop.h"
#include "ctl/qmp/event_sink.h"
#include "ctl/loop/loop_timer.h"
#include "ctl/qapi/qmp_error.h"
#include "ctl/qmp/session.h"
#include "ctl/vmm/vmm_monitor.h"
#include "qapi_types.h"

namespace vnet::vmm {

// What vmm-attach was asked, as the state file keeps it.
struct AttachmentSpec {
  std::string nic;
  std::string qmp;
  std::string device;
  bool hotplug = true;
  std::string driver;  // hotplug: the device's driver
  std::string bus;     // hotplug: "" for the VMM's choice
  std::string netdev;  // hotplug: the netdev's id in the VMM
  std::string mac;     // hotplug: the NIC's MAC, given to the device
};

// An fd of the NIC's tap to hand to the VMM (already duplicated).
struct HandedFd {
  bool vhost = false;
  int queue = 0;
  UniqueFd fd;
};

nlohmann::ordered_json spec_json(const AttachmentSpec& spec);
std::optional<AttachmentSpec> spec_from_json(const nlohmann::ordered_json& saved);

// QEMU's query-rx-filter entry for the device, as vnetd's RxFilterInfo for
// the NIC: renamed, and broadcast-allowed turned from QEMU 7.2's "nobcast"
// flag (virtio_net_query_rxfilter reports n->nobcast under that name) into
// its meaning.
QmpResult<qapi::RxFilterInfo> mirrored_filter(const nlohmann::ordered_json& vmm_entry, const std::string& nic);

class VmmAttachments {
 public:
  // Programs a NIC's filter exactly as set-rx-filter does.
  using FilterProgrammer = std::function<QmpResult<Empty>(const qapi::RxFilterInfo&)>;
  // Makes the attachments durable (the state file), before a reply says so.
  using StateSaver = std::function<Result<void>()>;

  // How long vmm-detach waits for the guest to release a hot-plugged device.
  static constexpr unsigned kUnplugTimeoutMs = 10000;

  VmmAttachments(EventLoop& loop, qmp::EventSink& events, FilterProgrammer program, StateSaver save);
  ~VmmAttachments();

  bool attached(const std::string& nic) const { return attachments_.count(nic) > 0; }
  const AttachmentSpec* find(const std::string& nic) const;

  // Starts an attachment; reply is resolved when it is in place (or failed,
  // with nothing left behind where the VMM let us undo it). A connection
  // error is returned at once.
  Result<void> attach(AttachmentSpec spec, std::vector<HandedFd> fds, std::shared_ptr<qmp::DeferredReply> reply);
  // A restarted daemon: reconnects and reads the current filter.
  void resume(AttachmentSpec spec);
  QmpResult<Empty> detach(const std::string& nic, std::shared_ptr<qmp::DeferredReply> reply);

  std::vector<qapi::VmmAttachmentInfo> query() const;
  // The attachments a restarted daemon is to resume.
  std::vector<AttachmentSpec> saved() const;

 private:
  class Attachment;
  friend class Attachment;
  // Takes an attachment out now and destroys it after this turn of the loop
  // (its own callbacks may be running).
  void retire(const std::string& nic);

  EventLoop& loop_;
  qmp::EventSink& events_;
  FilterProgrammer program_;
  StateSaver save_;
  std::map<std::string, std::unique_ptr<Attachment>> attachments_;
  std::vector<std::unique_ptr<Attachment>> retired_;
};

}  // namespace vnet::vmm
