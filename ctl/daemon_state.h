// DaemonState - what the daemon keeps in its state dir so that a restarted
// daemon re-adopts it: every netdev (options as given, link state, the kernel
// objects behind it), running announce timers, VMM attachments, and the
// devices of deleted netdevs still being torn down.
//
// Each change costs a journal line for what changed (StateJournal), not a
// rewrite. Changes of one turn of the event loop are committed together
// (one write), and replies wait for it (CommitGate): an answered request
// survives kill -9. The commit is made durable on the device before the
// replies (SyncPolicy::kEachCommit) or within kFlushInterval after them, off
// the loop (kBackground). Work that must follow durability (a created tap made
// persistent, so that no device outlives an unrecorded netdev) runs after
// the commit and before the replies.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "backends/tap/teardown_queue.h"
#include "ctl/announcer.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/commit_gate.h"
#include "ctl/loop/event_loop.h"
#include "ctl/loop/loop_timer.h"
#include "ctl/state/journal_flusher.h"
#include "ctl/state/state_journal.h"
#include "ctl/vmm/vmm_attachments.h"
#include "kernel_ifaces/result.h"

namespace vnet {

class DaemonState : public qmp::CommitGate {
 public:
  // How long a background flush waits after a commit: commits made meanwhile
  // share it, and a host crash loses at most this much.
  static constexpr unsigned kFlushIntervalMs = 1000;

  DaemonState(std::string dir, NetdevRegistry& registry, EventLoop& loop,
              state::SyncPolicy sync = state::SyncPolicy::kEachCommit);
  ~DaemonState();  // what is written but not flushed is flushed first
  DaemonState(const DaemonState&) = delete;
  DaemonState& operator=(const DaemonState&) = delete;

  // What the last daemon left: {"netdevs": [...], "announce-timers": [...],
  // "vmm-attachments": [...]}, or nullopt when there is none. A state that
  // does not parse is an error (starting afresh over it would lose devices).
  // The devices of deleted netdevs not yet torn down are in teardowns().
  Result<std::optional<nlohmann::ordered_json>> load();
  const std::vector<state::Teardown>& teardowns() const { return teardowns_; }

  // Netdev id changed (added, changed or deleted: gone from the registry),
  // and with it its peer. Committed at the end of this turn of the loop.
  void changed(const std::string& id);
  // Announce timers or VMM attachments changed.
  void sections_changed();

  bool uncommitted() const override {
    return !dirty_.empty() || sections_dirty_ || !after_commit_.empty() || !when_committed_.empty();
  }
  // Work that must follow durability (and precede every reply).
  void after_commit(std::function<void()> fn);
  // Replies, released after that work.
  void when_committed(std::function<void()> fn) override;
  // The pending commit, now.
  Result<void> commit_now();
  // Room in the journal for one more change (a record or two): checked before
  // a change is made, so a full state dir refuses it instead of losing it.
  Result<void> reserve_change() { return journal_.reserve(kChangeReserveBytes); }
  static constexpr size_t kChangeReserveBytes = 16 << 10;
  // Everything rewritten as a new snapshot (at start, after re-adoption, and
  // when stopping with --keep-devices).
  Result<void> save_now();

  void set_announcer(const Announcer* announcer) { announcer_ = announcer; }
  void set_vmm_attachments(const vmm::VmmAttachments* attachments) { vmm_ = attachments; }
  void set_teardown_queue(TeardownQueue* teardown) { teardown_ = teardown; }
  // Nothing is left to re-adopt (the daemon removed all it had).
  void discard() { journal_.discard(); }
  const std::string& path() const { return journal_.snapshot_path(); }
  uint64_t bytes_written() const { return journal_.bytes_written(); }
  // kBackground: flushes done so far (for tests).
  uint64_t background_flushes() const { return flusher_ ? flusher_->flushes() : 0; }

 private:
  void schedule_commit();
  // kBackground: a flush of what the last commits wrote, kFlushIntervalMs on.
  void schedule_flush();
  void flush_journal();
  void stage_netdev(const std::string& id);
  void stage_sections();
  void stage_finished_teardowns();

  state::StateJournal journal_;
  NetdevRegistry& registry_;
  EventLoop& loop_;
  // Changed ids in the order they changed: a new record goes after those
  // before it (a NIC after its tap), as restore needs them.
  std::vector<std::string> dirty_;
  std::unordered_set<std::string> dirty_set_;
  void mark(const std::string& id) {
    if (dirty_set_.insert(id).second) dirty_.push_back(id);
  }
  void stage_dirty();
  bool sections_dirty_ = false;
  bool commit_scheduled_ = false;
  std::vector<std::function<void()>> after_commit_;
  std::vector<std::function<void()>> when_committed_;
  void run_after_commit();
  std::vector<state::Teardown> teardowns_;
  const Announcer* announcer_ = nullptr;
  const vmm::VmmAttachments* vmm_ = nullptr;
  TeardownQueue* teardown_ = nullptr;
  std::optional<state::JournalFlusher> flusher_;  // kBackground only
  std::unique_ptr<LoopTimer> flush_timer_;
};

// What load() returns for the files' contents (records and sections are
// moved out of contents).
nlohmann::ordered_json loaded_state(state::Contents& contents);

// A record's integer member (fallback when it is missing). Any other type
// throws json::type_error, as get<>() does for a string, and vnetd stops
// naming the file; a number with a fraction or exponent counts as another
// type, since converting 1e300 to an integer is undefined behaviour.
int64_t integer_member(const nlohmann::ordered_json& object, const char* key, int64_t fallback);

// The announce timers of a loaded state, for Announcer::resume.
std::vector<Announcer::Snapshot> announce_timers(const nlohmann::ordered_json& state);

// The VMM attachments of a loaded state, for VmmAttachments::resume.
std::vector<vmm::AttachmentSpec> vmm_attachments(const nlohmann::ordered_json& state);

// One registry entry as a record, and what restore needs of it.
nlohmann::ordered_json netdev_record(const NetdevEntry& entry);

}  // namespace vnet
