// Lab tests: vnetd's tap netdev with vhost=on against a kernel that has
// vhost-net. Run inside the kernel lab (tests/lab/run-lab), or as root on any
// host with /dev/vhost-net (VNETD=build/bin/vnetd).
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/vhost.h"
#include "tests/lab/harness/frames.h"
#include "tests/lab/harness/packet_socket.h"
#include "tests/lab/harness/qmp_client.h"
#include "tests/lab/harness/vhost_net_vmm.h"
#include "kernel_ifaces/vhost_ioctl.h"
#include "tests/lab/harness/vmm_ioctl.h"
#include "tests/lab/harness/vnetd_process.h"

namespace vnet::lab {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

#define ASSERT_OK(result) ASSERT_TRUE((result).ok()) << (result).error().message
#define ASSERT_QMP_OK(reply) ASSERT_TRUE((reply).ok()) << (reply).message.dump()

constexpr uint32_t kQueues = 2;
constexpr auto kFrameTimeout = 3s;  // TCG is slow, but a frame takes milliseconds

uint64_t bit(unsigned n) { return uint64_t{1} << n; }

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// Waits for cond, for at most timeout.
template <typename Cond>
bool eventually(Cond cond, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// How many of pid's fds are open on path (e.g. "/dev/vhost-net").
int fds_open_on(pid_t pid, const std::string& path) {
  int count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path(), link_ec) == path) count++;
  }
  return count;
}

// Whether two fds are one open file (kcmp KCMP_FILE).
Result<bool> same_file(int a, int b) {
  long r = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b);
  if (r < 0) return errno_error("kcmp KCMP_FILE");
  return r == 0;
}

json tap_args(const std::string& id, const std::string& ifname) {
  return {{"type", "tap"}, {"id", id}, {"ifname", ifname}, {"queues", kQueues}, {"vhost", true}};
}

std::string hex_head(const std::vector<uint8_t>& bytes, size_t n = 48) {
  std::string out;
  char byte[4];
  for (size_t i = 0; i < std::min(n, bytes.size()); i++) {
    std::snprintf(byte, sizeof(byte), "%02x", bytes[i]);
    out += byte;
  }
  return out + (bytes.size() > n ? "... (" + std::to_string(bytes.size()) + " bytes)" : "");
}

testing::AssertionResult arrived_elsewise(int others, const std::vector<uint8_t>& last) {
  auto failure = testing::AssertionFailure() << "it did not arrive";
  if (others) failure << "; " << others << " other frame(s) did, the last: " << hex_head(last);
  return failure;
}

// Reads the network side until want arrives; says what came instead.
testing::AssertionResult network_receives(PacketSocket& network, const std::vector<uint8_t>& want) {
  int others = 0;
  std::vector<uint8_t> last;
  for (;;) {
    auto next = network.receive(kFrameTimeout);
    if (!next) return testing::AssertionFailure() << next.error().message;
    if (!next->has_value()) return arrived_elsewise(others, last);
    if (**next == want) return testing::AssertionSuccess();
    others++;
    last = std::move(**next);
  }
}

// Reads a receiveq until want arrives (into frame); says what came instead.
testing::AssertionResult queue_receives(VhostNetQueuePair& pair, const std::vector<uint8_t>& want, ReceivedFrame& frame,
                                        std::chrono::milliseconds timeout = kFrameTimeout) {
  int others = 0;
  std::vector<uint8_t> last;
  for (;;) {
    auto next = pair.receive(timeout);
    if (!next) return testing::AssertionFailure() << next.error().message;
    if (!next->has_value()) return arrived_elsewise(others, last);
    if ((*next)->data == want) {
      frame = std::move(**next);
      return testing::AssertionSuccess();
    }
    others++;
    last = std::move((*next)->data);
  }
}

class VhostNet : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(exists("/dev/vhost-net"))
        << "no /dev/vhost-net: run this inside the kernel lab (tests/lab/run-lab) or load vhost_net";
    auto vnetd = VnetdProcess::start();
    ASSERT_OK(vnetd);
    vnetd_.emplace(std::move(*vnetd));
    auto qmp = QmpClient::connect(vnetd_->socket_path());
    ASSERT_OK(qmp);
    qmp_.emplace(std::move(*qmp));
  }

  void TearDown() override {
    qmp_.reset();
    if (vnetd_) {
      auto stopped = vnetd_->stop();
      EXPECT_TRUE(stopped.ok() && *stopped == 0)
          << "vnetd did not stop cleanly: " << (stopped.ok() ? std::to_string(*stopped) : stopped.error().message);
    }
  }

  json netdev(const std::string& id) {
    auto reply = qmp_->execute("query-netdevs");
    if (!reply || !reply->ok()) return nullptr;
    for (const auto& n : reply->value()) {
      if (n.value("id", "") == id) return n;
    }
    return nullptr;
  }

  std::optional<VnetdProcess> vnetd_;
  std::optional<QmpClient> qmp_;
};

// netdev_add tap,vhost=on,queues=2 opens /dev/vhost-net per queue, and
// netdev-get-fds hands over every queue's tap fd and vhost fd, in order.
TEST_F(VhostNet, FdsHandedOver) {
  auto added = qmp_->execute("netdev_add", tap_args("vh0", "labvh0"));
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);

  json info = netdev("vh0");
  ASSERT_FALSE(info.is_null());
  const json& details = info.at("details");
  EXPECT_EQ(details.value("ifname", ""), "labvh0");
  EXPECT_EQ(details.value("queues", 0), kQueues);
  EXPECT_TRUE(details.value("vhost", false)) << details.dump();
  EXPECT_EQ(fds_open_on(vnetd_->pid(), "/dev/vhost-net"), static_cast<int>(kQueues));

  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh0"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  json expected = json::parse(R"([{"role":"tap","queue":0},{"role":"tap","queue":1},
                                  {"role":"vhost","queue":0},{"role":"vhost","queue":1}])");
  ASSERT_EQ(got->value().at("fds"), expected);
  ASSERT_EQ(got->fds.size(), 4u);

  struct stat vhost_dev{};
  ASSERT_EQ(stat("/dev/vhost-net", &vhost_dev), 0);
  for (uint32_t q = 0; q < kQueues; q++) {
    int vhost = got->fds[kQueues + q].get();
    struct stat st{};
    ASSERT_EQ(fstat(vhost, &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == vhost_dev.st_rdev) << "vhost fd " << q << " is not /dev/vhost-net";
    uint64_t features = 0;
    ASSERT_EQ(vnet_vhost_get_features(vhost, &features), 0) << "VHOST_GET_FEATURES on queue " << q;
    for (unsigned f : {lab_virtio_net_f_mrg_rxbuf, lab_virtio_f_version_1, lab_vhost_net_f_virtio_net_hdr,
                       lab_virtio_ring_f_event_idx, lab_virtio_ring_f_indirect_desc, lab_virtio_f_any_layout}) {
      EXPECT_TRUE(features & bit(f)) << "vhost-net of queue " << q << " lacks feature bit " << f;
    }
    EXPECT_EQ(static_cast<int64_t>(features), details.value("vhost-features", int64_t{-1}));

    int tap = got->fds[q].get();
    auto iff = tun::get_iff(tap);
    ASSERT_OK(iff);
    EXPECT_EQ(iff->name, "labvh0");
    EXPECT_EQ(iff->flags & (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR),
              unsigned{IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR});
  }
  // Two queues are two open files of one device, not one file twice.
  auto same = same_file(got->fds[0].get(), got->fds[1].get());
  ASSERT_OK(same);
  EXPECT_FALSE(*same) << "both tap fds are the same queue";
  EXPECT_TRUE(exists("/sys/class/net/labvh0/queues/tx-1"));
}

// netdev_del closes what vnetd opened: the tap goes, and so do its
// /dev/vhost-net and /dev/net/tun fds.
TEST_F(VhostNet, NetdevDelLeavesNoDevice) {
  auto added = qmp_->execute("netdev_add", tap_args("vh1", "labvh1"));
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  ASSERT_TRUE(exists("/sys/class/net/labvh1"));
  ASSERT_EQ(fds_open_on(vnetd_->pid(), "/dev/vhost-net"), static_cast<int>(kQueues));

  auto deleted = qmp_->execute("netdev_del", {{"id", "vh1"}});
  ASSERT_OK(deleted);
  ASSERT_QMP_OK(*deleted);
  EXPECT_TRUE(netdev("vh1").is_null());
  EXPECT_TRUE(eventually([] { return !exists("/sys/class/net/labvh1"); })) << "labvh1 still exists";
  EXPECT_TRUE(eventually([&] { return fds_open_on(vnetd_->pid(), "/dev/vhost-net") == 0; }))
      << "vnetd still holds vhost fds";
  EXPECT_TRUE(eventually([&] { return fds_open_on(vnetd_->pid(), "/dev/net/tun") == 0; }))
      << "vnetd still holds tap fds";
}

// fds=/vhostfds=: the client opened the tap queues and vhost devices and
// passed them with getfd; vnetd uses those very files and hands them back.
TEST_F(VhostNet, VhostfdsAreTheOnesGiven) {
  std::vector<UniqueFd> taps, vhosts;
  for (uint32_t q = 0; q < kQueues; q++) {
    auto tap = tun::open_device();
    ASSERT_OK(tap);
    auto named = tun::set_iff(tap->get(), "labvh3", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR);
    ASSERT_OK(named);
    auto vhost = vhost::open_device(vhost::kVhostNetPath);
    ASSERT_OK(vhost);
    for (auto [name, fd] : {std::pair{"t", tap->get()}, std::pair{"v", vhost->get()}}) {
      auto passed = qmp_->execute("getfd", {{"fdname", name + std::to_string(q)}}, {fd});
      ASSERT_OK(passed);
      ASSERT_QMP_OK(*passed);
    }
    taps.push_back(std::move(*tap));
    vhosts.push_back(std::move(*vhost));
  }
  auto added = qmp_->execute("netdev_add", {{"type", "tap"}, {"id", "vh3"}, {"fds", "t0:t1"}, {"vhostfds", "v0:v1"}});
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  json details = netdev("vh3").at("details");
  EXPECT_EQ(details.value("ifname", ""), "labvh3");
  EXPECT_EQ(details.value("queues", 0), kQueues);
  EXPECT_TRUE(details.value("vhost", false)) << details.dump();
  // vnetd opened no vhost device of its own.
  EXPECT_EQ(fds_open_on(vnetd_->pid(), "/dev/vhost-net"), static_cast<int>(kQueues));

  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh3"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  ASSERT_EQ(got->fds.size(), 2 * kQueues);
  for (uint32_t q = 0; q < kQueues; q++) {
    auto tap_same = same_file(got->fds[q].get(), taps[q].get());
    ASSERT_OK(tap_same);
    EXPECT_TRUE(*tap_same) << "tap fd of queue " << q << " is not the one passed as t" << q;
    auto vhost_same = same_file(got->fds[kQueues + q].get(), vhosts[q].get());
    ASSERT_OK(vhost_same);
    EXPECT_TRUE(*vhost_same) << "vhost fd of queue " << q << " is not the one passed as v" << q;
  }
  auto deleted = qmp_->execute("netdev_del", {{"id", "vh3"}});
  ASSERT_OK(deleted);
  ASSERT_QMP_OK(*deleted);
}

// vhostforce=on without vhost= asks for vhost-net, as in QEMU.
TEST_F(VhostNet, VhostforceImpliesVhost) {
  auto added = qmp_->execute("netdev_add", {{"type", "tap"}, {"id", "vh4"}, {"ifname", "labvh4"}, {"vhostforce", true}});
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  EXPECT_TRUE(netdev("vh4").at("details").value("vhost", false));
  EXPECT_EQ(fds_open_on(vnetd_->pid(), "/dev/vhost-net"), 1);
  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh4"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  EXPECT_EQ(got->value().at("fds"), json::parse(R"([{"role":"tap","queue":0},{"role":"vhost","queue":0}])"));
}

// The harness is the VMM: it takes the fds, sets each queue pair's rings up
// on its own memory and moves frames both ways between its virtqueues and
// the tap's network side, with the virtio-net header, on every queue.
TEST_F(VhostNet, FramesMoveBothWaysOnEveryQueue) {
  constexpr int kFramesPerQueue = 100;  // more than the ring: it wraps
  constexpr uint16_t kRingSize = 64;
  const std::string ifname = "labvh2";

  auto added = qmp_->execute("netdev_add", tap_args("vh2", ifname));
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh2"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  ASSERT_EQ(got->fds.size(), 2 * kQueues);

  auto memory = GuestMemory::create(4 << 20, 0x40000000);
  ASSERT_OK(memory);
  std::vector<std::unique_ptr<VhostNetQueuePair>> pairs;
  uint64_t features = bit(lab_virtio_f_version_1) | bit(lab_virtio_net_f_mrg_rxbuf);
  for (uint32_t q = 0; q < kQueues; q++) {
    auto pair = VhostNetQueuePair::start(std::move(got->fds[kQueues + q]), std::move(got->fds[q]), **memory, features,
                                         kRingSize);
    ASSERT_OK(pair);
    pairs.push_back(std::move(*pair));
  }
  auto network = PacketSocket::open(ifname);
  ASSERT_OK(network);

  for (uint32_t q = 0; q < kQueues; q++) {
    // One flow per queue; the tap learns it from the transmitted frames and
    // steers the replies to the same queue.
    Endpoint guest{{0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(q)}, {192, 0, 2, 2},
                   static_cast<uint16_t>(40000 + q)};
    Endpoint peer{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}, {192, 0, 2, 1}, static_cast<uint16_t>(50000 + q)};
    for (int i = 0; i < kFramesPerQueue; i++) {
      std::string tag = "lab q=" + std::to_string(q) + " i=" + std::to_string(i);
      std::string padding((i * 131) % 1430, static_cast<char>('a' + i % 26));  // 60 to 1514 bytes

      auto out = udp_frame(guest, peer, "tx " + tag + " " + padding);
      auto sent = pairs[q]->send(out, kFrameTimeout);
      ASSERT_OK(sent) << " (queue " << q << ", frame " << i << ")";
      ASSERT_TRUE(network_receives(*network, out)) << "frame " << i << " sent on queue " << q << " to " << ifname;

      auto in = udp_frame(peer, guest, "rx " + tag + " " + padding);
      auto delivered = network->send(in);
      ASSERT_OK(delivered);
      ReceivedFrame frame;
      auto arrived = queue_receives(*pairs[q], in, frame);
      if (!arrived) {
        for (uint32_t other = 0; other < kQueues; other++) {
          ReceivedFrame stray;
          if (other != q && queue_receives(*pairs[other], in, stray, 100ms)) {
            FAIL() << "frame " << i << " for queue " << q << " arrived on queue " << other;
          }
        }
        FAIL() << "frame " << i << " sent to " << ifname << " on queue " << q << "'s receiveq: " << arrived.message();
      }
      EXPECT_EQ(frame.header.flags, 0) << "frame " << i;
      EXPECT_EQ(frame.header.gso_type, 0) << "frame " << i;  // VIRTIO_NET_HDR_GSO_NONE
      EXPECT_EQ(frame.header.num_buffers, 1) << "frame " << i;
    }
  }
  pairs.clear();
  auto deleted = qmp_->execute("netdev_del", {{"id", "vh2"}});
  ASSERT_OK(deleted);
  ASSERT_QMP_OK(*deleted);
  EXPECT_TRUE(eventually([&] { return !exists("/sys/class/net/" + ifname); })) << ifname << " still exists";
}

// The claim no peer makes: with vhost-net as the tap's reader (no VMM reading
// the tap, so QEMU's userspace filter never runs), the guest's rx filter still
// holds, because vnetd's BPF program sits on the tap (TUNSETFILTEREBPF) and
// drops in the kernel before vhost-net sees a frame.
TEST_F(VhostNet, RxFilterHoldsWithVhostNetAsTheReader) {
  const std::string ifname = "labvh3";
  const Mac own{0x52, 0x54, 0x00, 0x12, 0x34, 0x70};
  const Mac other{0x52, 0x54, 0x00, 0x12, 0x34, 0x71};
  const Mac group{0x01, 0x00, 0x5e, 0x00, 0x00, 0x42};  // multicast, not in the table
  json tap = tap_args("vh3", ifname);
  tap["queues"] = 1;
  auto added = qmp_->execute("netdev_add", tap);
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  auto nic = qmp_->execute("netdev_add", {{"type", "nic"}, {"id", "n3"}, {"netdev", "vh3"},
                                          {"macaddr", "52:54:00:12:34:70"}});
  ASSERT_OK(nic);
  ASSERT_QMP_OK(*nic);
  // What a guest driver programs for "my MAC and broadcast only".
  auto filtered = qmp_->execute(
      "set-rx-filter", {{"name", "n3"}, {"promiscuous", false}, {"multicast", "normal"}, {"unicast", "normal"},
                        {"vlan", "all"}, {"broadcast-allowed", false}, {"multicast-overflow", false},
                        {"unicast-overflow", false}, {"main-mac", "52:54:00:12:34:70"}, {"vlan-table", json::array()},
                        {"unicast-table", json::array()}, {"multicast-table", json::array()}});
  ASSERT_OK(filtered);
  ASSERT_QMP_OK(*filtered);

  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh3"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  ASSERT_EQ(got->fds.size(), 2u);  // tap queue 0, vhost 0
  auto memory = GuestMemory::create(4 << 20, 0x40000000);
  ASSERT_OK(memory);
  auto pair = VhostNetQueuePair::start(std::move(got->fds[1]), std::move(got->fds[0]), **memory,
                                       bit(lab_virtio_f_version_1) | bit(lab_virtio_net_f_mrg_rxbuf), 64);
  ASSERT_OK(pair);
  auto network = PacketSocket::open(ifname);
  ASSERT_OK(network);

  constexpr int kEach = 10;
  Endpoint peer{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}, {192, 0, 2, 1}, 50000};
  std::vector<std::vector<uint8_t>> kept;
  for (int i = 0; i < kEach; i++) {
    for (const Mac& dst : {own, other, group}) {
      auto frame = udp_frame(peer, Endpoint{dst, {192, 0, 2, 2}, 40000}, "filter " + std::to_string(i));
      auto sent = network->send(frame);
      if (dst == own) {
        ASSERT_OK(sent);
        kept.push_back(std::move(frame));
      } else {
        // tun_net_xmit() answers a frame its filter dropped with NET_XMIT_DROP,
        // which reaches the sender as ENOBUFS.
        EXPECT_TRUE(sent.ok() || sent.error().errnum == ENOBUFS) << sent.error().message;
      }
    }
  }
  int leaked = 0, arrived = 0;
  for (;;) {
    auto next = (*pair)->receive(arrived < kEach ? kFrameTimeout : 500ms);
    ASSERT_OK(next);
    if (!next->has_value()) break;
    Mac dst;
    std::copy_n((*next)->data.begin(), 6, dst.begin());
    if (dst == own) {
      EXPECT_EQ((*next)->data, kept.at(arrived)) << "kept frame " << arrived;
      arrived++;
    } else {
      leaked++;
      ADD_FAILURE() << "a frame the guest's filter drops reached the vring: " << hex_head((*next)->data);
    }
  }
  EXPECT_EQ(arrived, kEach) << "frames to the NIC's own MAC that reached the vring";
  EXPECT_EQ(leaked, 0);
  json details = netdev("n3")["details"];
  EXPECT_EQ(details.value("rx-filter-enforced", false), true) << details.dump();
  EXPECT_EQ(details.value("rx-filter-passed", -1), kEach) << details.dump();
  EXPECT_EQ(details.value("rx-filter-dropped", -1), 2 * kEach) << details.dump();
  std::printf("rx filter with vhost-net as the reader: %d of %d kept frames reached the vring, %d of %d dropped "
              "frames leaked\n", arrived, kEach, leaked, 2 * kEach);
}

// Guest anti-spoofing with vhost-net as the writer: frames the guest puts on
// its transmitq are written into the tap by vhost-net (tun_sendmsg()), never
// by a VMM, and the anti-spoof program on the tap's tc ingress still drops
// those with a source that is not the guest's. What passes is seen by a
// packet socket for ETH_P_IP, which the kernel serves after tc ingress.
TEST_F(VhostNet, AntiSpoofHoldsWithVhostNetAsTheWriter) {
  const std::string ifname = "labvh5";
  json tap = tap_args("vh5", ifname);
  tap["queues"] = 1;
  auto added = qmp_->execute("netdev_add", tap);
  ASSERT_OK(added);
  ASSERT_QMP_OK(*added);
  auto nic = qmp_->execute("netdev_add", {{"type", "nic"}, {"id", "n5"}, {"netdev", "vh5"},
                                          {"macaddr", "52:54:00:12:34:80"}});
  ASSERT_OK(nic);
  ASSERT_QMP_OK(*nic);
  auto enabled = qmp_->execute("set-anti-spoof", {{"name", "n5"}, {"enable", true},
                                                  {"allowed-ips", json::array({"192.0.2.2/32"})}});
  ASSERT_OK(enabled);
  ASSERT_QMP_OK(*enabled);

  auto got = qmp_->execute("netdev-get-fds", {{"id", "vh5"}});
  ASSERT_OK(got);
  ASSERT_QMP_OK(*got);
  ASSERT_EQ(got->fds.size(), 2u);  // tap queue 0, vhost 0
  auto memory = GuestMemory::create(4 << 20, 0x40000000);
  ASSERT_OK(memory);
  auto pair = VhostNetQueuePair::start(std::move(got->fds[1]), std::move(got->fds[0]), **memory,
                                       bit(lab_virtio_f_version_1) | bit(lab_virtio_net_f_mrg_rxbuf), 64);
  ASSERT_OK(pair);
  auto past_tc = PacketSocket::open(ifname, 0x0800);  // ETH_P_IP
  ASSERT_OK(past_tc);

  constexpr int kEach = 10;
  const Endpoint peer{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}, {192, 0, 2, 1}, 50000};
  const Endpoint guest{{0x52, 0x54, 0x00, 0x12, 0x34, 0x80}, {192, 0, 2, 2}, 40000};
  const Endpoint wrong_ip{guest.mac, {192, 0, 2, 9}, 40000};
  const Endpoint wrong_mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x81}, guest.ip, 40000};
  std::vector<std::vector<uint8_t>> legit;
  for (int i = 0; i < kEach; i++) {
    for (const Endpoint* from : {&guest, &wrong_ip, &wrong_mac}) {
      auto frame = udp_frame(*from, peer, "anti-spoof " + std::to_string(i));
      auto sent = (*pair)->send(frame, kFrameTimeout);
      ASSERT_OK(sent);
      if (from == &guest) legit.push_back(std::move(frame));
    }
  }
  int passed = 0, leaked = 0;
  for (;;) {
    auto next = past_tc->receive(passed < kEach ? kFrameTimeout : 500ms);
    ASSERT_OK(next);
    if (!next->has_value()) break;
    if (passed < kEach && **next == legit[passed]) {
      passed++;
    } else {
      leaked++;
      ADD_FAILURE() << "a frame that is not the guest's legit one passed tc ingress: " << hex_head(**next);
    }
  }
  EXPECT_EQ(passed, kEach) << "the guest's own frames past the tap's tc ingress";
  EXPECT_EQ(leaked, 0);
  json details = netdev("n5")["details"];
  EXPECT_EQ(details.value("anti-spoof", false), true) << details.dump();
  EXPECT_EQ(details.value("spoof-drops", -1), 2 * kEach) << details.dump();
  EXPECT_EQ(details["spoof-drops-by-reason"].value("bad-ipv4", -1), kEach) << details.dump();
  EXPECT_EQ(details["spoof-drops-by-reason"].value("bad-mac", -1), kEach) << details.dump();
  std::printf("anti-spoof with vhost-net as the writer: %d of %d legit frames passed, %d of %d spoofed leaked\n",
              passed, kEach, leaked, 2 * kEach);
}

}  // namespace
}  // namespace vnet::lab
