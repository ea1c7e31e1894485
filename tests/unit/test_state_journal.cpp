// StateJournal: what is committed is what a later load finds, whatever the
// files went through (a torn last line, a compaction, a crash between its
// steps), and appends cost what changed.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ctl/state/journal_flusher.h"
#include "ctl/state/state_journal.h"

namespace vnet::state {
namespace {

using json = nlohmann::ordered_json;

class StateJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // tmpfs: thousands of fdatasyncs in a unit test (O_DIRECT works there too).
    char dir[] = "/dev/shm/vnet-journal-XXXXXX";
    dir_ = mkdtemp(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string record(const std::string& id, int value) { return json{{"id", id}, {"v", value}}.dump(); }
  std::vector<std::string> ids(const Contents& contents) {
    std::vector<std::string> out;
    for (const auto& r : contents.records) out.push_back(r["id"].get<std::string>() + "=" + r["v"].dump());
    return out;
  }
  Contents load() {
    StateJournal reader(dir_);
    auto loaded = reader.load();
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().message);
    EXPECT_TRUE(loaded && *loaded);
    return loaded && *loaded ? **loaded : Contents{};
  }
  std::string dir_;
};

TEST_F(StateJournalTest, NothingThereIsNoState) {
  StateJournal journal(dir_);
  auto loaded = journal.load();
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(*loaded);
}

TEST_F(StateJournalTest, CommittedPutsDeletesAndSectionsComeBackInOrder) {
  StateJournal journal(dir_);
  ASSERT_TRUE(journal.compact());
  journal.put("a", record("a", 1));
  journal.put("b", record("b", 1));
  journal.put("c", record("c", 1));
  ASSERT_TRUE(journal.commit());
  journal.put("a", record("a", 2));  // an update keeps its place
  journal.remove("b", Teardown{"tap7", 7});
  journal.set_section("timers", "[1,2]");
  size_t before = journal.bytes_written();
  ASSERT_TRUE(journal.commit());
  EXPECT_LT(journal.bytes_written() - before, 200u) << "a commit writes what changed, not everything";
  journal.put("d", record("d", 1));  // staged, never committed: lost, as a crash would lose it
  Contents contents = load();
  EXPECT_EQ(ids(contents), (std::vector<std::string>{"a=2", "c=1"}));
  EXPECT_EQ(contents.sections["timers"], json::array({1, 2}));
  ASSERT_EQ(contents.teardowns.size(), 1u);
  EXPECT_EQ(contents.teardowns[0].ifname, "tap7");
  journal.teardown_done(7);
  ASSERT_TRUE(journal.commit());
  EXPECT_TRUE(load().teardowns.empty());
}

TEST_F(StateJournalTest, ATornLastLineIsIgnoredAndATornMiddleIsNot) {
  StateJournal journal(dir_);
  ASSERT_TRUE(journal.compact());
  journal.put("a", record("a", 1));
  ASSERT_TRUE(journal.commit());
  std::string path = dir_ + "/journal-1";
  // Appends go where the journal's zeros begin.
  auto write_at_end = [&](const std::string& text) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    file.seekp(static_cast<std::streamoff>(content.find('\0')));
    file << text;
  };
  write_at_end("{\"put\":{\"id\":\"b\",\"v");  // a crash in the middle of an append
  EXPECT_EQ(ids(load()), std::vector<std::string>{"a=1"});
  write_at_end("\n{\"put\":{\"id\":\"c\",\"v\":1}}\n");
  StateJournal reader(dir_);
  auto loaded = reader.load();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("journal-1:2"), std::string::npos) << loaded.error().message;
}

TEST_F(StateJournalTest, CompactionKeepsEverythingAndDropsOldJournals) {
  StateJournal journal(dir_);
  ASSERT_TRUE(journal.compact());
  // Enough appends to pass the compaction threshold more than once.
  std::string padding(400, 'x');
  for (int i = 0; i < 6000; i++) {
    journal.put("n" + std::to_string(i % 50), json{{"id", "n" + std::to_string(i % 50)}, {"v", i}, {"p", padding}}.dump());
    ASSERT_TRUE(journal.commit());
  }
  EXPECT_LT(journal.journal_bytes(), StateJournal::kMinCompactBytes + 1000);
  Contents contents = load();
  ASSERT_EQ(contents.records.size(), 50u);
  EXPECT_EQ(contents.records[0]["v"], 5950);
  EXPECT_EQ(contents.records[49]["v"], 5999);
  size_t journals = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir_)) {
    if (f.path().filename().string().rfind("journal-", 0) == 0) journals++;
  }
  EXPECT_EQ(journals, 1u);
}

TEST_F(StateJournalTest, ACrashBeforeTheNewSnapshotIsInPlaceLosesNothing) {
  StateJournal journal(dir_);
  ASSERT_TRUE(journal.compact());
  journal.put("a", record("a", 1));
  ASSERT_TRUE(journal.commit());
  // A half-written snapshot of the next generation and an early journal of it.
  std::ofstream(dir_ + "/netdevs.json.new") << "{\"version\":2,\"generation\":2,\"netd";
  std::ofstream(dir_ + "/journal-2") << "{\"put\":{\"id\":\"b\",\"v\":1}}\n";
  EXPECT_EQ(ids(load()), (std::vector<std::string>{"a=1", "b=1"}));
}

TEST_F(StateJournalTest, AVersionOneFileStillLoads) {
  std::ofstream(dir_ + "/netdevs.json") << R"({"version": 1, "netdevs": [{"id": "h0", "v": 3}], "announce-timers": []})";
  Contents contents = load();
  EXPECT_EQ(ids(contents), std::vector<std::string>{"h0=3"});
  std::ofstream(dir_ + "/netdevs.json") << R"({"version": 9, "netdevs": []})";
  StateJournal reader(dir_);
  EXPECT_FALSE(reader.load());
}

// The loader's logic on texts alone (as the fuzz target drives it): wrong
// types are errors naming the file, never exceptions.
// kBackground: a commit is in the file (what a restarted daemon reads) as
// soon as commit() returns, with no flush; the journal is handed for a flush
// once per batch of commits, and a compaction (which fsyncs) owes none.
TEST_F(StateJournalTest, BackgroundCommitsAreReadableBeforeAnyFlushAndHandedOverOnce) {
  StateJournal journal(dir_, SyncPolicy::kBackground);
  ASSERT_TRUE(journal.compact());
  // The snapshot is fsynced as it is written; the new journal's zeros are
  // left for a flush, as commits are.
  EXPECT_TRUE(journal.unsynced());
  EXPECT_TRUE(journal.take_unsynced());
  EXPECT_FALSE(journal.unsynced());
  EXPECT_FALSE(journal.take_unsynced());
  journal.put("a", record("a", 1));
  ASSERT_TRUE(journal.commit());
  journal.put("b", record("b", 1));
  ASSERT_TRUE(journal.commit());
  EXPECT_EQ(ids(load()), (std::vector<std::string>{"a=1", "b=1"}));
  EXPECT_TRUE(journal.unsynced());
  UniqueFd fd = journal.take_unsynced();
  ASSERT_TRUE(fd);
  EXPECT_FALSE(journal.take_unsynced()) << "one hand-over covers every commit before it";
  JournalFlusher flusher;
  flusher.flush(std::move(fd), journal.journal_file());
  flusher.wait_idle();
  EXPECT_EQ(flusher.flushes(), 1u);
  journal.put("c", record("c", 1));
  ASSERT_TRUE(journal.commit());
  ASSERT_TRUE(journal.compact());
  EXPECT_EQ(ids(load()), (std::vector<std::string>{"a=1", "b=1", "c=1"}));
}

// The journal outlives its snapshot's generation while a flush is waiting:
// flushing a journal compaction removed is harmless.
TEST_F(StateJournalTest, AFlushOfAJournalCompactedAwayIsHarmless) {
  StateJournal journal(dir_, SyncPolicy::kBackground);
  ASSERT_TRUE(journal.compact());
  journal.put("a", record("a", 1));
  ASSERT_TRUE(journal.commit());
  UniqueFd old_journal = journal.take_unsynced();
  ASSERT_TRUE(journal.compact());
  JournalFlusher flusher;
  flusher.flush(std::move(old_journal), "old");
  flusher.flush(UniqueFd(), "none");  // nothing to flush: ignored
  flusher.wait_idle();
  EXPECT_EQ(flusher.flushes(), 1u);
  EXPECT_EQ(ids(load()), (std::vector<std::string>{"a=1"}));
}

TEST(ContentsReader, WrongTypesAreErrorsNamingTheFile) {
  for (const char* text : {R"({"version":"1"})", R"({"version":"1","netdevs":[]})", R"({"version":2,"netdevs":[5]})",
                           R"({"version":2,"netdevs":[{"id":5,"netdev":5,"details":{}}]})",
                           R"({"version":2,"generation":"x","netdevs":[]})",
                           R"({"version":2,"netdevs":[],"teardowns":[{"ifname":5,"ifindex":1}]})"}) {
    ContentsReader reader;
    auto read = reader.read_snapshot("S", text);
    ASSERT_FALSE(read) << text;
    EXPECT_EQ(read.error().message.rfind("S: ", 0), 0u) << read.error().message;
  }
  ContentsReader reader;
  ASSERT_TRUE(reader.read_snapshot("S", R"({"version":2,"generation":3,"netdevs":[{"id":"a"}],"x":1})"));
  auto bad = reader.replay_journal("J", "{\"del\":\"a\"}\n{\"put\":{\"id\":5}}\n{}\n", true);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "J:2: a put without a record id");
}

}  // namespace
}  // namespace vnet::state
