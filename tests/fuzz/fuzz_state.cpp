// The state dir's loader: the snapshot (netdevs.json) and the journal lines
// after it, through ContentsReader (StateJournal::load()'s logic without the
// files), then what vnetd does with a loaded state at start: every record
// re-adopted through restore_netdev() (fake backends), announce timers
// resumed, VMM attachments decoded. A bad state is a clean error (a Result,
// or the json::exception vnetd_main turns into "a record has a member of the
// wrong type"), never a crash.
//
// Input: the snapshot's text, then each journal after a line "%%journal".
// An input starting with that line has no snapshot.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/daemon_state.h"
#include "ctl/state/state_journal.h"
#include "tests/fuzz/fake_daemon.h"

namespace {

constexpr std::string_view kJournalMark = "%%journal\n";

std::vector<std::string> split(std::string_view input) {
  std::vector<std::string> parts;
  for (;;) {
    size_t mark = input.find(kJournalMark);
    parts.emplace_back(input.substr(0, mark));
    if (mark == std::string_view::npos) return parts;
    input.remove_prefix(mark + kJournalMark.size());
  }
}

void restore(const nlohmann::ordered_json& state) {
  vnet::fuzz::FakeDaemon daemon;
  try {
    for (const auto& record : state["netdevs"]) (void)daemon.commands().restore_netdev(record);
    for (const auto& timer : vnet::announce_timers(state)) (void)daemon.announcer().resume(timer);
    (void)vnet::vmm_attachments(state);
  } catch (const nlohmann::json::exception&) {
    // vnetd stops naming the file: a clean error.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts = split(std::string_view(reinterpret_cast<const char*>(data), size));
  vnet::state::ContentsReader reader;
  if (!parts[0].empty()) {
    if (auto read = reader.read_snapshot("netdevs.json", parts[0]); !read) return 0;
  }
  for (size_t j = 1; j < parts.size(); j++) {
    std::string path = "journal-" + std::to_string(j);
    if (auto replayed = reader.replay_journal(path, parts[j], j + 1 == parts.size()); !replayed) return 0;
  }
  vnet::state::Contents contents = std::move(reader).contents();
  restore(vnet::loaded_state(contents));
  return 0;
}
