// DaemonState - <state-dir>/netdevs.json: every netdev the daemon holds, in
// the order they were added, with what a restarted daemon needs to re-adopt
// them (options as given, link state, the kernel objects behind each).
// Rewritten whole after each change, atomically (a new file, fsync, rename):
// a crash at any point leaves the old state or the new one, never a mix.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "ctl/announcer.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/event_loop.h"
#include "ctl/vmm/vmm_attachments.h"
#include "kernel_ifaces/result.h"

namespace vnet {

class DaemonState {
 public:
  static constexpr int kVersion = 1;

  DaemonState(std::string dir, NetdevRegistry& registry, qmp::EventLoop& loop)
      : path_(std::move(dir) + "/netdevs.json"), registry_(registry), loop_(loop) {}

  // Saves at the end of this turn of the event loop: requests answered
  // together (a pipelining client) cost one write.
  void changed();
  Result<void> save_now();
  // The last save ({"netdevs": [...], "announce-timers": [...],
  // "vmm-attachments": [...]}), or nullopt
  // when there is none. A file that does not parse is an error (starting
  // afresh over it would lose devices).
  Result<std::optional<nlohmann::ordered_json>> load() const;
  // Its running announce timers are saved too, and its VMM attachments.
  void set_announcer(const Announcer* announcer) { announcer_ = announcer; }
  void set_vmm_attachments(const vmm::VmmAttachments* attachments) { vmm_ = attachments; }
  // Nothing is left to re-adopt (the daemon removed all it had).
  void discard();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  NetdevRegistry& registry_;
  qmp::EventLoop& loop_;
  bool save_pending_ = false;
  const Announcer* announcer_ = nullptr;
  const vmm::VmmAttachments* vmm_ = nullptr;
};

// The VMM attachments of a loaded state, for VmmAttachments::resume.
std::vector<vmm::AttachmentSpec> vmm_attachments(const nlohmann::ordered_json& state);

// The announce timers of a loaded state, for Announcer::resume.
std::vector<Announcer::Snapshot> announce_timers(const nlohmann::ordered_json& state);

// One registry entry as a record, and what restore needs of it.
nlohmann::ordered_json netdev_record(const NetdevEntry& entry);

}  // namespace vnet
