#include "ctl/vmm/vmm_attachments.h"

#include "ctl/qapi/input_visitor.h"
#include "kernel_ifaces/log.h"
#include "qapi_encode.h"
#include "qapi_visit.h"

namespace vnet::vmm {

using json = nlohmann::ordered_json;

namespace {

ErrorClass error_class(const std::string& name) {
  for (ErrorClass cls : {ErrorClass::CommandNotFound, ErrorClass::DeviceNotFound, ErrorClass::DeviceNotActive,
                         ErrorClass::KVMMissingCap}) {
    if (name == to_string(cls)) return cls;
  }
  return ErrorClass::GenericError;
}

// The VMM's refusal in its own words; no answer at all says why.
QmpError vmm_error(const VmmReply& reply) {
  if (reply.kind == VmmReply::Kind::refused) return {error_class(reply.error_class), reply.desc};
  return generic_error(reply.desc);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ":") + name;
  return out;
}

}  // namespace

json spec_json(const AttachmentSpec& spec) {
  json out = json::object();
  out["nic"] = spec.nic;
  out["qmp"] = spec.qmp;
  out["device"] = spec.device;
  out["hotplug"] = spec.hotplug;
  if (spec.hotplug) {
    out["driver"] = spec.driver;
    out["netdev"] = spec.netdev;
    out["mac"] = spec.mac;
    if (!spec.bus.empty()) out["bus"] = spec.bus;
  }
  return out;
}

std::optional<AttachmentSpec> spec_from_json(const json& saved) {
  auto text = [&saved](const char* key) -> std::optional<std::string> {
    if (!saved.contains(key)) return std::string();
    if (!saved[key].is_string()) return std::nullopt;
    return saved[key].get<std::string>();
  };
  if (!saved.is_object() || !saved.contains("hotplug") || !saved["hotplug"].is_boolean()) return std::nullopt;
  AttachmentSpec spec;
  spec.hotplug = saved["hotplug"].get<bool>();
  for (auto [key, field] : {std::pair{"nic", &spec.nic}, {"qmp", &spec.qmp}, {"device", &spec.device},
                            {"driver", &spec.driver}, {"netdev", &spec.netdev}, {"mac", &spec.mac},
                            {"bus", &spec.bus}}) {
    auto value = text(key);
    if (!value) return std::nullopt;
    *field = std::move(*value);
  }
  if (spec.nic.empty() || spec.qmp.empty() || spec.device.empty()) return std::nullopt;
  return spec;
}

QmpResult<qapi::RxFilterInfo> mirrored_filter(const json& vmm_entry, const std::string& nic) {
  auto info = qapi::decode_struct<qapi::RxFilterInfo>(vmm_entry, qapi::visit_type_RxFilterInfo_members);
  if (!info) return generic_error("the VMM's query-rx-filter entry does not decode: " + info.error().desc);
  info.value().name = nic;
  info.value().broadcast_allowed = !info.value().broadcast_allowed;
  return info;
}

// One NIC's attachment: a small state machine driven by its monitor's
// replies and events.
class VmmAttachments::Attachment {
 public:
  Attachment(VmmAttachments& owner, AttachmentSpec spec) : owner_(owner), spec_(std::move(spec)) {}

  const AttachmentSpec& spec() const { return spec_; }
  // In the state file: all but a first vmm-attach still under way.
  bool committed() const { return resuming_ || state_ != qapi::VmmAttachmentState::attaching; }

  qapi::VmmAttachmentInfo info() const {
    qapi::VmmAttachmentInfo out;
    out.nic = spec_.nic;
    out.qmp = spec_.qmp;
    out.device = spec_.device;
    out.connected = monitor_ && monitor_->is_open();
    out.filter_updates = filter_updates_;
    out.hotplug = spec_.hotplug;
    if (spec_.hotplug) {
      out.driver = spec_.driver;
      out.netdev = spec_.netdev;
    }
    if (!spec_.bus.empty()) out.bus = spec_.bus;
    out.state = state_;
    if (!last_error_.empty()) out.last_error = last_error_;
    return out;
  }

  Result<void> connect() {
    auto monitor = VmmMonitor::connect(owner_.loop_, spec_.qmp,
                                       {[this] { on_ready(); }, [this](const json& event) { on_event(event); },
                                        [this](const std::string& why) { on_closed(why); }});
    if (!monitor) return monitor.take_error();
    monitor_ = std::move(*monitor);
    auto timer = LoopTimer::create(owner_.loop_, [this] { on_unplug_timeout(); });
    if (!timer) return timer.take_error();
    unplug_timer_ = std::move(*timer);
    return {};
  }

  void start_attach(std::vector<HandedFd> fds, std::shared_ptr<qmp::DeferredReply> reply) {
    fds_ = std::move(fds);
    reply_ = std::move(reply);
  }

  // A restarted daemon's attachment: connect again and read the filter.
  void start_resume() {
    resuming_ = true;
    if (auto connected = connect(); !connected) become_disconnected(connected.error().message, false);
  }

  QmpResult<Empty> start_detach(std::shared_ptr<qmp::DeferredReply> reply) {
    if (state_ == qapi::VmmAttachmentState::attaching) {
      return generic_error("vmm-attach of NIC '" + spec_.nic + "' is still under way");
    }
    if (state_ == qapi::VmmAttachmentState::detaching) {
      return generic_error("vmm-detach of NIC '" + spec_.nic + "' is already under way");
    }
    reply_ = std::move(reply);
    if (!spec_.hotplug || !monitor_ || !monitor_->is_open()) {
      finish_detach();
      return Empty{};
    }
    state_ = qapi::VmmAttachmentState::detaching;
    device_deleted_ = false;
    monitor_->execute("device_del", {{"id", spec_.device}}, {}, [this](const VmmReply& r) {
      if (!r.ok() || device_deleted_) return remove_netdev_then_finish();
      unplug_timer_->arm_ms(kUnplugTimeoutMs);
    });
    return Empty{};
  }

 private:
  // --- attach

  void on_ready() {
    ready_seen_ = true;
    if (resuming_ || !spec_.hotplug) return query_filter();
    send_fd(0);
  }

  std::string fd_name(const HandedFd& fd) const {
    return "vnetd-" + spec_.nic + (fd.vhost ? "-vhost" : "-tap") + std::to_string(fd.queue);
  }

  void send_fd(size_t index) {
    if (index == fds_.size()) return add_netdev();
    std::string name = fd_name(fds_[index]);
    std::vector<UniqueFd> carried;
    carried.push_back(std::move(fds_[index].fd));
    monitor_->execute("getfd", {{"fdname", name}}, std::move(carried), [this, index, name](const VmmReply& r) {
      if (!r.ok()) return attach_failed(vmm_error(r));
      sent_names_.push_back(name);
      send_fd(index + 1);
    });
  }

  void add_netdev() {
    std::vector<std::string> taps, vhosts;
    for (const auto& fd : fds_) (fd.vhost ? vhosts : taps).push_back(fd_name(fd));
    json args = {{"type", "tap"}, {"id", spec_.netdev}};
    // QEMU 7.2's net_init_tap: fd= for one queue, fds= (colon-separated) for several.
    args[taps.size() == 1 ? "fd" : "fds"] = join(taps);
    if (!vhosts.empty()) {
      args["vhost"] = true;
      args[vhosts.size() == 1 ? "vhostfd" : "vhostfds"] = join(vhosts);
    }
    queues_ = taps.size();
    monitor_->execute("netdev_add", std::move(args), {}, [this](const VmmReply& r) {
      // Named fds are consumed by netdev_add (monitor_get_fd), even when it fails.
      if (!r.ok()) return attach_failed(vmm_error(r));
      netdev_added_ = true;
      add_device();
    });
  }

  void add_device() {
    json args = {{"driver", spec_.driver}, {"id", spec_.device}, {"netdev", spec_.netdev}, {"mac", spec_.mac}};
    if (queues_ > 1) {
      // As QEMU's docs for multiqueue virtio-net: vectors = 2 * queues + 2.
      args["mq"] = true;
      args["vectors"] = 2 * queues_ + 2;
    }
    if (!spec_.bus.empty()) args["bus"] = spec_.bus;
    monitor_->execute("device_add", std::move(args), {}, [this](const VmmReply& r) {
      if (!r.ok()) return attach_failed(vmm_error(r));
      device_added_ = true;
      query_filter();
    });
  }

  void query_filter() {
    refreshing_ = true;
    monitor_->execute("query-rx-filter", {{"name", spec_.device}}, {}, [this](const VmmReply& r) {
      refreshing_ = false;
      std::optional<QmpError> failed;
      if (!r.ok()) failed = vmm_error(r);
      else if (auto applied = apply(r.value); !applied) failed = applied.error();
      if (state_ == qapi::VmmAttachmentState::attaching) {
        first_filter_done(failed);
        if (state_ == qapi::VmmAttachmentState::following && std::exchange(refresh_again_, false)) refresh();
        return;
      }
      if (failed) {
        last_error_ = failed->desc;
        log::warning("vmm: NIC '" + spec_.nic + "': following " + describe(spec_.qmp) + ": " + failed->desc);
      }
      if (std::exchange(refresh_again_, false)) refresh();
    });
  }

  QmpResult<Empty> apply(const json& entries) {
    if (!entries.is_array()) return generic_error("the VMM's query-rx-filter returned no list");
    for (const auto& entry : entries) {
      if (!entry.is_object() || entry.value("name", json()) != json(spec_.device)) continue;
      auto info = mirrored_filter(entry, spec_.nic);
      if (!info) return info.error();
      auto programmed = owner_.program_(info.value());
      if (!programmed) return programmed.error();
      filter_updates_++;
      return Empty{};
    }
    return generic_error("the VMM's query-rx-filter has no entry for device '" + spec_.device + "'");
  }

  void first_filter_done(const std::optional<QmpError>& failed) {
    if (resuming_) {
      if (failed) return become_disconnected(failed->desc, true);
      state_ = qapi::VmmAttachmentState::following;
      log::info("vmm: NIC '" + spec_.nic + "' follows device '" + spec_.device + "' of " + describe(spec_.qmp) +
                " again");
      return;
    }
    if (failed) return attach_failed(*failed);
    // Durable before the reply says it is done.
    state_ = qapi::VmmAttachmentState::following;
    if (auto saved = owner_.save_(); !saved) {
      state_ = qapi::VmmAttachmentState::attaching;
      return attach_failed(generic_error("saving vnetd's state: " + saved.error().message));
    }
    resolve(Empty{});
  }

  // Undoes in the VMM what this attach did, newest first, then answers with
  // error. Each undo step runs whatever the one before it came to.
  void attach_failed(QmpError error) {
    std::vector<std::pair<std::string, json>> undo;
    if (device_added_) undo.push_back({"device_del", {{"id", spec_.device}}});
    if (netdev_added_) undo.push_back({"netdev_del", {{"id", spec_.netdev}}});
    else for (const auto& name : sent_names_) undo.push_back({"closefd", {{"fdname", name}}});
    fds_.clear();
    run_undo(std::move(undo), 0, std::move(error));
  }

  void run_undo(std::vector<std::pair<std::string, json>> steps, size_t index, QmpError error) {
    if (finished_) return;
    if (index == steps.size() || !monitor_->is_open()) {
      finished_ = true;
      if (!monitor_->is_open() && index < steps.size()) {
        error.desc += " (the VMM went away: " + std::to_string(steps.size() - index) + " undo step(s) not done)";
      }
      resolve(std::move(error));
      owner_.retire(spec_.nic);
      return;
    }
    auto [command, args] = steps[index];
    monitor_->execute(command, args, {}, [this, steps = std::move(steps), index, error](const VmmReply&) mutable {
      run_undo(std::move(steps), index + 1, std::move(error));
    });
  }

  void resolve(const QmpResult<Empty>& result) {
    if (!reply_) return;
    auto reply = std::move(reply_);
    if (result) reply->resolve(json::object());
    else reply->resolve(result.error());
  }

  // --- following

  void on_event(const json& event) {
    const std::string name = event.value("event", "");
    const json data = event.value("data", json::object());
    if (name == "NIC_RX_FILTER_CHANGED" && data.value("name", json()) == json(spec_.device)) {
      if (state_ == qapi::VmmAttachmentState::following) refresh();
      // Before the first query's answer is in, the event may be about a
      // change the answer does not hold yet: ask again once it is.
      else if (state_ == qapi::VmmAttachmentState::attaching) refresh_again_ = true;
      return;
    }
    if (name == "DEVICE_DELETED" && data.value("device", json()) == json(spec_.device)) {
      device_deleted_ = true;
      if (state_ == qapi::VmmAttachmentState::detaching && unplug_timer_->armed()) {
        unplug_timer_->disarm();
        remove_netdev_then_finish();
      } else if (state_ == qapi::VmmAttachmentState::following) {
        last_error_ = "device '" + spec_.device + "' was deleted in the VMM";
        log::warning("vmm: NIC '" + spec_.nic + "': " + last_error_);
      }
    }
  }

  // The query re-arms QEMU's NIC_RX_FILTER_CHANGED; events that come while
  // one is under way ask for one more.
  void refresh() {
    if (refreshing_) {
      refresh_again_ = true;
      return;
    }
    query_filter();
  }

  void on_closed(const std::string& why) {
    switch (state_) {
      case qapi::VmmAttachmentState::attaching:
        if (resuming_) return become_disconnected(why, false);
        // Once negotiated, the command under way fails and attach_failed answers.
        if (!ready_seen_) attach_failed(generic_error(why));
        return;
      case qapi::VmmAttachmentState::detaching:
        return finish_detach();
      case qapi::VmmAttachmentState::following:
        return become_disconnected(why, false);
      case qapi::VmmAttachmentState::disconnected:
        return;
    }
  }

  void become_disconnected(const std::string& why, bool close_monitor) {
    if (close_monitor && monitor_) monitor_->close();
    bool was_following = state_ == qapi::VmmAttachmentState::following;
    state_ = qapi::VmmAttachmentState::disconnected;
    last_error_ = why;
    log::warning("vmm: NIC '" + spec_.nic + "': " + why + "; its last filter stays in force");
    if (was_following) {
      qmp::emit_event(owner_.events_, "VNET_VMM_DISCONNECTED", qapi::VnetVmmDisconnectedData{spec_.nic, spec_.qmp});
    }
  }

  // --- detach

  void on_unplug_timeout() {
    log::warning("vmm: NIC '" + spec_.nic + "': the guest did not release device '" + spec_.device + "' within " +
                 std::to_string(kUnplugTimeoutMs / 1000) + " s; the VMM removes it when the guest does");
    remove_netdev_then_finish();
  }

  // QEMU deletes a netdev whose device is still there once the device goes.
  void remove_netdev_then_finish() {
    monitor_->execute("netdev_del", {{"id", spec_.netdev}}, {}, [this](const VmmReply&) { finish_detach(); });
  }

  void finish_detach() {
    if (std::exchange(finished_, true)) return;
    if (unplug_timer_) unplug_timer_->disarm();
    if (monitor_) monitor_->close();
    auto reply = std::move(reply_);
    VmmAttachments& owner = owner_;
    std::string nic = spec_.nic;
    owner.retire(nic);  // this object now waits for destruction: touch nothing of it
    if (auto saved = owner.save_(); !saved) log::error("vmm: detaching NIC '" + nic + "': " + saved.error().message);
    if (reply) reply->resolve(json::object());
  }

  VmmAttachments& owner_;
  AttachmentSpec spec_;
  qapi::VmmAttachmentState state_ = qapi::VmmAttachmentState::attaching;
  std::unique_ptr<VmmMonitor> monitor_;
  std::unique_ptr<LoopTimer> unplug_timer_;
  std::shared_ptr<qmp::DeferredReply> reply_;
  std::vector<HandedFd> fds_;
  std::vector<std::string> sent_names_;
  size_t queues_ = 0;
  bool netdev_added_ = false;
  bool device_added_ = false;
  bool device_deleted_ = false;
  bool resuming_ = false;
  bool ready_seen_ = false;
  bool finished_ = false;  // answered and retired: nothing more to do
  bool refreshing_ = false;
  bool refresh_again_ = false;
  int64_t filter_updates_ = 0;
  std::string last_error_;
};

VmmAttachments::VmmAttachments(EventLoop& loop, qmp::EventSink& events, FilterProgrammer program,
                               StateSaver save)
    : loop_(loop), events_(events), program_(std::move(program)), save_(std::move(save)) {}

VmmAttachments::~VmmAttachments() = default;

const AttachmentSpec* VmmAttachments::find(const std::string& nic) const {
  auto it = attachments_.find(nic);
  return it == attachments_.end() ? nullptr : &it->second->spec();
}

Result<void> VmmAttachments::attach(AttachmentSpec spec, std::vector<HandedFd> fds,
                                    std::shared_ptr<qmp::DeferredReply> reply) {
  auto attachment = std::make_unique<Attachment>(*this, spec);
  if (auto connected = attachment->connect(); !connected) return connected;
  attachment->start_attach(std::move(fds), std::move(reply));
  attachments_[spec.nic] = std::move(attachment);
  return {};
}

void VmmAttachments::resume(AttachmentSpec spec) {
  std::string nic = spec.nic;
  auto& slot = attachments_[nic];
  slot = std::make_unique<Attachment>(*this, std::move(spec));
  slot->start_resume();
}

QmpResult<Empty> VmmAttachments::detach(const std::string& nic, std::shared_ptr<qmp::DeferredReply> reply) {
  auto it = attachments_.find(nic);
  if (it == attachments_.end()) return generic_error("NIC '" + nic + "' is not attached to a VMM");
  return it->second->start_detach(std::move(reply));
}

std::vector<qapi::VmmAttachmentInfo> VmmAttachments::query() const {
  std::vector<qapi::VmmAttachmentInfo> out;
  for (const auto& [nic, attachment] : attachments_) out.push_back(attachment->info());
  return out;
}

std::vector<AttachmentSpec> VmmAttachments::saved() const {
  std::vector<AttachmentSpec> out;
  for (const auto& [nic, attachment] : attachments_) {
    if (attachment->committed()) out.push_back(attachment->spec());
  }
  return out;
}

void VmmAttachments::retire(const std::string& nic) {
  auto it = attachments_.find(nic);
  if (it == attachments_.end()) return;
  retired_.push_back(std::move(it->second));
  attachments_.erase(it);
  loop_.defer([this] { retired_.clear(); });
}

}  // namespace vnet::vmm
