// vnetctl-cni's own records (ctl/cni/attachment_store.h): one file per
// attachment, written whole, read back, listed for GC, removed; and the
// IPAM's part of a record as DEL and GC read it (attachment_release.h).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "ctl/cni/attachment_release.h"
#include "ctl/cni/attachment_store.h"

namespace vnet::cni {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/vnet-cni-store-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  StoredAttachment record(const std::string& container) {
    AttachmentKey key{"podnet", container, "eth0"};
    StoredAttachment out{netdev_id_for(key), key, "/var/run/netns/" + container, json::object()};
    out.data = {{"cniVersion", "1.1.0"},
                {"args", "IgnoreUnknown=1"},
                {"ipam", {{"type", "host-local"}, {"config", {{"cniVersion", "1.0.0"}, {"name", "podnet"}}}}}};
    return out;
  }
  static mode_t mode_of(const std::string& path) {
    struct stat st{};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  static void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  std::string root_;
};

TEST_F(StoreTest, WrittenWholeReadBackRemoved) {
  // DATADIR's parents are made too (/var/lib/cni may not exist yet).
  AttachmentStore store(root_ + "/lib/cni/vnetctl-cni/", "podnet");
  EXPECT_EQ(store.directory(), root_ + "/lib/cni/vnetctl-cni/podnet");
  auto mine = record("abc");
  EXPECT_EQ(store.path_of(mine.id), store.directory() + "/" + mine.id + ".json");
  EXPECT_FALSE(store.read(mine.id).value());
  ASSERT_TRUE(store.write(mine)) << store.write(mine).error().msg;
  EXPECT_EQ(mode_of(root_ + "/lib/cni/vnetctl-cni"), 0700u);
  EXPECT_EQ(mode_of(store.directory()), 0700u);
  EXPECT_EQ(mode_of(store.path_of(mine.id)), 0600u);
  auto back = store.read(mine.id);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->key, mine.key);
  EXPECT_EQ((*back)->netns, mine.netns);
  EXPECT_EQ((*back)->data, mine.data);
  // Replaced whole, nothing else left in the directory.
  mine.data["ipam"]["result"] = {{"ips", {{{"address", "10.1.0.5/16"}}}}};
  ASSERT_TRUE(store.write(mine, false));
  EXPECT_EQ(store.read(mine.id).value()->data["ipam"]["result"]["ips"][0]["address"], "10.1.0.5/16");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(store.directory())) entries++;
  EXPECT_EQ(entries, 1u);
  ASSERT_TRUE(store.remove(mine.id));
  EXPECT_FALSE(store.read(mine.id).value());
  EXPECT_TRUE(store.remove(mine.id));  // twice: nothing to remove is no error
}

TEST_F(StoreTest, ListsOneNetworksRecordsForGc) {
  AttachmentStore store(root_, "podnet");
  std::vector<std::string> unreadable;
  EXPECT_TRUE(store.list(&unreadable).value().empty());  // no directory yet
  ASSERT_TRUE(store.write(record("a")));
  ASSERT_TRUE(store.write(record("b")));
  ASSERT_TRUE(AttachmentStore(root_, "other").write(record("c")));
  write_text(store.directory() + "/cni-broken.json", "{\"netdev\":");
  write_text(store.directory() + "/README", "not a record");
  // A writer's temporary file: removed once its process is gone, kept while it runs.
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::string dead = store.directory() + "/.cni-x.json." + std::to_string(child) + ".tmp";
  std::string live = store.directory() + "/.cni-y.json." + std::to_string(getpid()) + ".tmp";
  write_text(dead, "{");
  write_text(live, "{");

  auto records = store.list(&unreadable);
  ASSERT_TRUE(records);
  std::set<std::string> containers;
  for (const auto& found : *records) containers.insert(found.key.container_id);
  EXPECT_EQ(containers, (std::set<std::string>{"a", "b"}));
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_NE(unreadable[0].find("cni-broken.json"), std::string::npos) << unreadable[0];
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_EQ(store.read("cni-broken").error().code, kDecodingFailure);
}

TEST_F(StoreTest, ARecordUnderAnotherIdIsNotThisOne) {
  AttachmentStore store(root_, "podnet");
  auto mine = record("a");
  ASSERT_TRUE(store.write(mine));
  fs::rename(store.path_of(mine.id), store.path_of("cni-other"));
  EXPECT_EQ(store.read("cni-other").error().code, kDecodingFailure);
}

TEST(StoredRecord, ShapeAndIpamPart) {
  EXPECT_FALSE(stored_attachment_from_json(json::parse(R"({"network":"n","container-id":"c","ifname":"e"})")));
  EXPECT_FALSE(stored_attachment_from_json(
      json::parse(R"({"network":"n","container-id":"c","ifname":"e","netdev":"cni-1","data":[]})")));
  auto ok = stored_attachment_from_json(
      json::parse(R"({"network":"n","container-id":"c","ifname":"e","netdev":"cni-1","data":{}})"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(stored_attachment_json(*ok).dump(),
            R"({"network":"n","container-id":"c","ifname":"e","netns":"","netdev":"cni-1","data":{}})");

  auto data = json::parse(R"({"cniVersion":"1.1.0","args":"K=V",
      "ipam":{"type":"host-local","config":{"cniVersion":"1.0.0","ipam":{"type":"host-local"}}}})");
  auto ipam = stored_ipam(data);
  ASSERT_TRUE(ipam);
  EXPECT_EQ(ipam->type, "host-local");
  EXPECT_EQ(ipam->config, R"({"cniVersion":"1.0.0","ipam":{"type":"host-local"}})");
  EXPECT_EQ(stored_args(data), "K=V");
  EXPECT_FALSE(stored_ipam(json::parse(R"({"cniVersion":"1.1.0","args":""})")));  // layer 2
  EXPECT_FALSE(stored_ipam(json::parse(R"({"ipam":{"type":"host-local"}})")));
  EXPECT_EQ(stored_args(json::object()), "");
}

}  // namespace
}  // namespace vnet::cni
