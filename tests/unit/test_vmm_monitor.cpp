// VmmMonitor (vnetd as a QMP client of a VMM) against a scripted fake VMM on
// a real UNIX socket, the conversion of a VMM's rx filter, the attachment
// records of the state file, and deferred QMP replies.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "ctl/qmp/session.h"
#include "ctl/vmm/vmm_attachments.h"
#include "ctl/vmm/vmm_monitor.h"
#include "kernel_ifaces/scm_rights.h"

namespace vnet::vmm {
namespace {

using json = nlohmann::ordered_json;

// A listening socket in a fresh directory; the fake VMM thread accepts on it.
class FakeVmm {
 public:
  FakeVmm() {
    char dir[] = "/tmp/vnet-vmm-XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/qmp.sock";
    listener_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listener_.get(), 4), 0);
  }
  ~FakeVmm() {
    if (thread_.joinable()) thread_.join();
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

  // Runs script(connection) on a thread once vnetd's side connects.
  void serve(std::function<void(int)> script) {
    thread_ = std::thread([this, script] {
      UniqueFd conn(accept(listener_.get(), nullptr, nullptr));
      script(conn.get());
    });
  }

  // One JSON message from the connection, and the fds that came with it.
  static json read_message(int fd, std::vector<UniqueFd>* fds = nullptr) {
    std::string text;
    std::vector<UniqueFd> received;
    char c;
    int depth = 0;
    for (;;) {
      std::vector<UniqueFd> got;
      auto n = scm::receive(fd, std::span<char>(&c, 1), got);
      if (!n || n->bytes == 0) return json();
      for (auto& f : got) received.push_back(std::move(f));
      if (c == '\n' && depth == 0) continue;
      text += c;
      if (c == '{') depth++;
      if (c == '}' && --depth == 0) break;
    }
    if (fds) *fds = std::move(received);
    return json::parse(text);
  }
  static void write(int fd, const std::string& text) { ASSERT_EQ(::write(fd, text.data(), text.size()), ssize_t(text.size())); }
  static void negotiate(int fd) {
    write(fd, R"({"QMP": {"version": {}, "capabilities": ["oob"]}})" "\n");
    json request = read_message(fd);
    EXPECT_EQ(request["execute"], "qmp_capabilities");
    write(fd, json{{"return", json::object()}, {"id", request["id"]}}.dump() + "\n");
  }

 private:
  std::string dir_, path_;
  UniqueFd listener_;
  std::thread thread_;
};

struct Loop {
  std::unique_ptr<EventLoop> loop = std::move(*EventLoop::create());
};

TEST(VmmMonitor, NegotiatesThenSendsACommandWithItsFd) {
  FakeVmm vmm;
  std::string fd_identity;
  vmm.serve([&](int conn) {
    FakeVmm::negotiate(conn);
    // An event before the reply, and a reply with another id first: ignored.
    std::vector<UniqueFd> fds;
    json request = FakeVmm::read_message(conn, &fds);
    EXPECT_EQ(request["execute"], "getfd");
    EXPECT_EQ(request["arguments"], json({{"fdname", "vnetd-n0-tap0"}}));
    ASSERT_EQ(fds.size(), 1u);
    struct stat st {};
    fstat(fds[0].get(), &st);
    fd_identity = std::to_string(st.st_ino);
    FakeVmm::write(conn, R"({"event": "NIC_RX_FILTER_CHANGED", "data": {"name": "n0"}, "timestamp": {}})" "\n");
    FakeVmm::write(conn, R"({"return": {}, "id": 999})" "\n");
    FakeVmm::write(conn, json{{"return", json::object()}, {"id", request["id"]}}.dump() + "\n");
    json next = FakeVmm::read_message(conn);
    FakeVmm::write(conn, json{{"error", {{"class", "DeviceNotFound"}, {"desc", "Device 'x' not found"}}},
                              {"id", next["id"]}}.dump() + "\n");
    FakeVmm::read_message(conn);  // until vnetd closes
  });
  Loop l;
  std::vector<std::string> seen;
  bool ready = false;
  auto monitor = VmmMonitor::connect(*l.loop, vmm.path(),
                                     {[&] { ready = true; }, [&](const json& e) { seen.push_back(e["event"]); },
                                      [&](const std::string& why) { seen.push_back("closed: " + why); }});
  ASSERT_TRUE(monitor) << monitor.error().message;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  struct stat st {};
  fstat(pipe_fds[0], &st);
  std::vector<UniqueFd> carried;
  carried.emplace_back(pipe_fds[0]);
  UniqueFd keep(pipe_fds[1]);
  VmmReply first, second;
  (*monitor)->execute("getfd", {{"fdname", "vnetd-n0-tap0"}}, std::move(carried), [&](const VmmReply& r) {
    first = r;
    seen.push_back("getfd answered");
  });
  (*monitor)->execute("device_del", {{"id", "x"}}, {}, [&](const VmmReply& r) {
    second = r;
    (*monitor)->close();
    l.loop->stop();
  });
  l.loop->run();
  EXPECT_TRUE(ready);
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(fd_identity, std::to_string(st.st_ino)) << "the fd the VMM got is the one given";
  EXPECT_EQ(second.kind, VmmReply::Kind::refused);
  EXPECT_EQ(second.error_class, "DeviceNotFound");
  EXPECT_EQ(second.desc, "Device 'x' not found");
  EXPECT_EQ(seen, (std::vector<std::string>{"NIC_RX_FILTER_CHANGED", "getfd answered"}));
}

TEST(VmmMonitor, SomethingThatIsNotQmpIsToldApart) {
  FakeVmm vmm;
  vmm.serve([](int conn) { FakeVmm::write(conn, R"({"hello": "world"})" "\n"); FakeVmm::read_message(conn); });
  Loop l;
  std::string closed;
  auto monitor = VmmMonitor::connect(*l.loop, vmm.path(), {nullptr, nullptr, [&](const std::string& why) {
                                                              closed = why;
                                                              l.loop->stop();
                                                            }});
  ASSERT_TRUE(monitor);
  l.loop->run();
  EXPECT_NE(closed.find("is not a QMP monitor"), std::string::npos) << closed;
  EXPECT_NE(closed.find(vmm.path()), std::string::npos) << closed;
}

TEST(VmmMonitor, AVmmThatGoesAwayFailsTheCommandUnderWay) {
  FakeVmm vmm;
  vmm.serve([](int conn) {
    FakeVmm::negotiate(conn);
    FakeVmm::read_message(conn);  // the command, never answered: the VMM exits
  });
  Loop l;
  VmmReply reply;
  reply.kind = VmmReply::Kind::ok;
  std::string closed;
  auto monitor = VmmMonitor::connect(*l.loop, vmm.path(), {nullptr, nullptr, [&](const std::string& why) {
                                                              closed = why;
                                                              l.loop->stop();
                                                            }});
  ASSERT_TRUE(monitor);
  (*monitor)->execute("netdev_add", {{"id", "x"}}, {}, [&](const VmmReply& r) { reply = r; });
  l.loop->run();
  EXPECT_EQ(reply.kind, VmmReply::Kind::unanswered);
  EXPECT_NE(reply.desc.find("closed its QMP socket"), std::string::npos) << reply.desc;
  EXPECT_FALSE((*monitor)->is_open());
}

TEST(VmmMonitor, ConnectErrorsNameThePath) {
  Loop l;
  auto missing = VmmMonitor::connect(*l.loop, "/nonexistent/qmp.sock", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no socket at /nonexistent/qmp.sock"), std::string::npos);
  EXPECT_FALSE(VmmMonitor::connect(*l.loop, std::string(200, 'x'), {}));
}

TEST(MirroredFilter, RenamesAndReadsQemusBroadcastFlagAsItsMeaning) {
  json qemu = {{"name", "dev0"},           {"promiscuous", false},      {"multicast", "normal"},
               {"unicast", "normal"},      {"vlan", "none"},            {"broadcast-allowed", false},
               {"multicast-overflow", false}, {"unicast-overflow", false}, {"main-mac", "52:54:00:00:00:01"},
               {"vlan-table", json::array()}, {"unicast-table", json::array()},
               {"multicast-table", json::array({"01:00:5e:00:00:01"})}};
  auto info = mirrored_filter(qemu, "n0");
  ASSERT_TRUE(info) << info.error().desc;
  EXPECT_EQ(info.value().name, "n0");
  EXPECT_TRUE(info.value().broadcast_allowed) << "QEMU 7.2's false is its nobcast flag: broadcasts pass";
  EXPECT_EQ(info.value().multicast_table, std::vector<std::string>{"01:00:5e:00:00:01"});
  qemu["broadcast-allowed"] = true;
  EXPECT_FALSE(mirrored_filter(qemu, "n0").value().broadcast_allowed);
  qemu.erase("main-mac");
  EXPECT_FALSE(mirrored_filter(qemu, "n0"));
}

TEST(AttachmentSpec, RoundTripsThroughTheStateFile) {
  AttachmentSpec spec{"n0", "/run/vm1.qmp", "dev0", true, "virtio-net-pci", "pci.0", "vnetd-n0", "52:54:00:00:00:01"};
  auto back = spec_from_json(spec_json(spec));
  ASSERT_TRUE(back);
  EXPECT_EQ(spec_json(*back), spec_json(spec));
  AttachmentSpec follow{"n1", "/run/vm2.qmp", "nic0", false, "", "", "", ""};
  EXPECT_EQ(spec_json(*spec_from_json(spec_json(follow))), spec_json(follow));
  EXPECT_FALSE(spec_from_json(json{{"nic", 5}, {"hotplug", true}}));
  EXPECT_FALSE(spec_from_json(json{{"nic", "n0"}, {"qmp", "/x"}, {"device", "d"}}));
  EXPECT_FALSE(spec_from_json(json::array()));
}

TEST(DeferredReply, ResolvedOnceWithTheRequestsId) {
  qmp::DeferredReply later;
  later.set_id(json("a1"));
  std::vector<std::string> delivered;
  EXPECT_FALSE(later.attach([&](std::string text) { delivered.push_back(text); }));
  later.resolve(json::object());
  later.resolve(generic_error("too late"));
  EXPECT_EQ(delivered, std::vector<std::string>{"{\"return\": {}, \"id\": \"a1\"}\n"});

  qmp::DeferredReply early;  // resolved before the server attached
  early.resolve(generic_error("no"));
  auto text = early.attach([](std::string) { ADD_FAILURE() << "delivered twice"; });
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n");

  qmp::DeferredReply gone;  // the client left: nothing is delivered
  gone.attach([](std::string) { ADD_FAILURE() << "delivered to a client that left"; });
  gone.detach();
  gone.resolve(json::object());
}

}  // namespace
}  // namespace vnet::vmm
