// StateJournal - the state dir's files: a snapshot (netdevs.json) and an
// append-only journal after it (journal-G, G the snapshot's generation).
// A change costs one journal line, not a rewrite: appends made together are
// made durable together (one write, one fdatasync: group commit). When the
// journal outgrows the snapshot, a new snapshot (generation G+1) is written
// (new file, fsync, rename, fsync of the directory) and older journals go.
// A crash at any point leaves a snapshot and the journals after it; a line
// torn by the crash can only end the last journal, and is ignored.
//
// Durability has two policies (SyncPolicy). With kEachCommit every commit
// is fdatasynced before its replies leave: it survives a host crash, at one
// device flush per commit. With kBackground a commit is written (into the
// page cache, which a killed or crashed daemon does not take with it) and
// flushed to the device later, off the daemon's loop (JournalFlusher): an
// answered request still survives kill -9, and a host crash (which also takes
// the VMs and the devices the state describes) loses the last interval.
//
// A journal is written over zeros laid down ahead of it (in steps of
// kPreallocBytes): an append then changes no file size or block map, so its
// fdatasync writes the data alone (on ext4, half the time of an append that
// grows the file). The journal ends at its first NUL byte. With kEachCommit,
// where the file system allows it, appends bypass the page cache (O_DIRECT,
// whole 4 KiB blocks): with large folios a cached append would write back
// 64 KiB per commit.
//
// It knows records by key and sections by name, not what is in them.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::state {

// A device a deleted netdev leaves for the background teardown: kept in the
// state until it is gone, so a restart after a crash removes it.
struct Teardown {
  std::string ifname;
  int ifindex = 0;
};

// What the files hold, in the order records were first put.
struct Contents {
  std::vector<nlohmann::ordered_json> records;
  std::map<std::string, nlohmann::ordered_json> sections;
  std::vector<Teardown> teardowns;
};

// What a snapshot's text and the journals' after it hold, put together
// without touching a file (the loader's logic; the fuzz target drives it on
// its own). Errors name the path given and the line.
class ContentsReader {
 public:
  // Returns the snapshot's generation: journals before it are stale.
  Result<uint64_t> read_snapshot(const std::string& path, const std::string& text);
  // last_journal: a torn last line (a crash mid-append) is ignored there.
  Result<void> replay_journal(const std::string& path, std::string text, bool last_journal);
  Contents contents() &&;

 private:
  Result<void> apply_line(const nlohmann::ordered_json& line);

  Contents out_;
  std::unordered_map<std::string, size_t> index_;  // record key -> index in out_.records
};

enum class SyncPolicy { kEachCommit, kBackground };

class StateJournal {
 public:
  static constexpr int kVersion = 2;
  // A new snapshot is written when the journal is larger than this and than
  // the snapshot: appends stay O(change), snapshots amortize to O(1) each.
  static constexpr size_t kMinCompactBytes = 1 << 20;
  static constexpr size_t kPreallocBytes = 1 << 20;

  explicit StateJournal(std::string dir, SyncPolicy sync = SyncPolicy::kEachCommit);

  const std::string& snapshot_path() const { return snapshot_path_; }

  // Reads the snapshot and replays the journals after it; nullopt when there
  // is no state. Errors name the file and line.
  Result<std::optional<Contents>> load();

  // Staged changes; nothing reaches the disk before commit().
  void put(const std::string& key, std::string record_text);
  void remove(const std::string& key, std::optional<Teardown> teardown);
  void set_section(const std::string& name, std::string value_text);
  void teardown_done(int ifindex);
  bool staged() const { return !staged_.empty(); }
  // Makes sure the journal has room for what is staged and bytes more (zeros
  // laid down ahead), so that a change can be refused before it is made
  // rather than made and not recorded (a full disk).
  Result<void> reserve(size_t bytes);

  // Writes the staged lines (and fdatasyncs them, kEachCommit); compacts when
  // due. On an error the journal is cut back to what it held before.
  Result<void> commit();
  // kBackground: the journal's fd (a dup) when commits since the last call
  // are written but not yet flushed, for the caller to fdatasync; else none.
  UniqueFd take_unsynced();
  bool unsynced() const { return unsynced_; }
  std::string journal_file() const { return journal_path(generation_); }
  // A new snapshot of everything now (also starts the first journal).
  Result<void> compact();
  // Removes the snapshot and the journals (nothing is left to re-adopt).
  void discard();

  // The committed text of a record, for comparing before a put.
  const std::string* record(const std::string& key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second->text;
  }
  size_t journal_bytes() const { return journal_bytes_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct Record {
    std::string key;
    std::string text;
  };
  std::string journal_path(uint64_t generation) const;
  std::vector<uint64_t> journal_generations() const;
  Result<void> open_journal();
  Result<void> preallocate(size_t upto);
  // Writes text at offset: directly, as whole blocks from the start of the
  // block holding offset (whose earlier bytes are tail_), or through the cache.
  Result<void> write_at(const std::string& text, size_t offset);
  void stage(std::string line) { staged_ += line + "\n"; }

  std::string dir_;
  std::string snapshot_path_;
  uint64_t generation_ = 0;
  UniqueFd journal_;
  size_t journal_bytes_ = 0;      // where the next append goes
  size_t journal_allocated_ = 0;  // zeros laid down up to here
  SyncPolicy sync_;
  bool direct_ = false;           // the journal is open with O_DIRECT
  bool unsynced_ = false;         // kBackground: written since the last take_unsynced()
  std::string tail_;              // the bytes of the last, partial block
  size_t snapshot_bytes_ = 0;
  uint64_t bytes_written_ = 0;
  std::string staged_;
  // The committed state, to write snapshots from without asking anyone.
  std::list<Record> records_;
  std::unordered_map<std::string, std::list<Record>::iterator> by_key_;
  std::map<std::string, std::string> sections_;
  std::map<int, std::string> teardowns_;  // ifindex -> ifname
};

}  // namespace vnet::state
