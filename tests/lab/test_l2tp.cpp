// Lab tests: vnetd's l2tpv3 netdev, in vnetd (offload=off) and in the kernel
// (offload=on: a tunnel and session of the kernel's own, l2tpethN), against
// the kernel's L2TPv3 pseudowire set up with iproute2's `ip l2tp`, over UDP
// and over IP, with cookies. Frames cross both ways:
//   test UDP socket -> vnetd socket netdev -> hub -> l2tpv3 netdev -> (kernel) -> l2tpeth (captured)
//   l2tpeth (sent) -> kernel -> l2tpv3 netdev -> hub -> socket netdev -> test UDP socket
// Then the offloaded netdev against vnetd's own userspace l2tpv3, on a hub
// the kernel forwards with a guest's tap, across a SIGKILL of vnetd, and
// what its deletion leaves.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kernel_ifaces/unique_fd.h"
#include "tests/lab/harness/packet_socket.h"
#include "tests/lab/harness/qmp_client.h"
#include "tests/lab/harness/vnetd_process.h"

namespace vnet::lab {
namespace {

using namespace std::chrono_literals;
#define ASSERT_OK(result) ASSERT_TRUE((result).ok()) << (result).error().message

constexpr uint16_t kTestPort = 47701, kSocketNetdevPort = 47702;

// iproute2's ip with l2tp (build-initramfs puts it at /usr/bin/ip-full).
int ip(const std::string& args) {
  int status = std::system(("/usr/bin/ip-full " + args + " >/tmp/lab-l2tp-ip.log 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// What the kernel says of the session and the device, for failure messages.
std::string kernel_counters(const std::string& ifname) {
  (void)std::system(("/usr/bin/ip-full l2tp show tunnel >/tmp/lab-l2tp-state 2>&1; /usr/bin/ip-full -s l2tp show session >>/tmp/lab-l2tp-state 2>&1; /usr/bin/ip-full -s link show " +
                     ifname + " >>/tmp/lab-l2tp-state 2>&1; grep Udp: /proc/net/snmp >>/tmp/lab-l2tp-state; netstat -uan >>/tmp/lab-l2tp-state 2>&1").c_str());
  FILE* file = std::fopen("/tmp/lab-l2tp-state", "r");
  std::string text;
  char buffer[512];
  while (file && std::fgets(buffer, sizeof buffer, file)) text += buffer;
  if (file) std::fclose(file);
  return text;
}

std::vector<uint8_t> frame(size_t size, uint8_t tag) {
  std::vector<uint8_t> out(size);
  const uint8_t head[14] = {0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0b, 0x88, 0xb5};
  std::copy(head, head + 14, out.begin());
  for (size_t i = 14; i < size; i++) out[i] = static_cast<uint8_t>(i * 3 + tag);
  return out;
}

// Whether `want` arrives on the device within a few frames (it may also see
// its own ARP chatter).
bool arrives(PacketSocket& wire, const std::vector<uint8_t>& want) {
  for (int i = 0; i < 20; i++) {
    auto received = wire.receive(2000ms);
    if (!received.ok() || !*received) return false;
    if (**received == want) return true;
  }
  return false;
}

class L2tpBase : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(ip("l2tp show tunnel"), 0) << "no `ip l2tp`: are the l2tp modules loaded and ip-full in the initramfs?";
    auto vnetd = VnetdProcess::start();
    ASSERT_OK(vnetd);
    vnetd_ = std::make_unique<VnetdProcess>(std::move(*vnetd));
    auto qmp = QmpClient::connect(vnetd_->socket_path());
    ASSERT_OK(qmp);
    qmp_ = std::make_unique<QmpClient>(std::move(*qmp));
    udp_ = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in local = loopback(kTestPort);
    ASSERT_EQ(bind(udp_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  }
  void TearDown() override {
    (void)ip("l2tp del session tunnel_id 1 session_id 100");
    (void)ip("l2tp del tunnel tunnel_id 1");
  }

  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
  }

  void add(const nlohmann::json& netdev) {
    auto added = qmp_->execute("netdev_add", netdev);
    ASSERT_OK(added);
    ASSERT_TRUE(added->ok()) << netdev.dump() << ": " << added->message.dump();
  }

  // vnetd: l2tpv3 (l2tp_options) and a socket netdev to this test, on a hub.
  void add_vnetd_side(nlohmann::json l2tp_options, bool offload) {
    l2tp_options["type"] = "l2tpv3";
    l2tp_options["id"] = "l0";
    l2tp_options["offload"] = offload;
    for (const auto& netdev : {l2tp_options, nlohmann::json{{"type", "hubport"}, {"id", "h0"}, {"hubid", 0}, {"netdev", "l0"}},
                               nlohmann::json{{"type", "socket"}, {"id", "s1"},
                                              {"udp", "127.0.0.1:" + std::to_string(kTestPort)},
                                              {"localaddr", "127.0.0.1:" + std::to_string(kSocketNetdevPort)}},
                               nlohmann::json{{"type", "hubport"}, {"id", "h1"}, {"hubid", 0}, {"netdev", "s1"}}}) {
      add(netdev);
    }
    auto details = l2tp_details();
    EXPECT_EQ(details["path"], offload ? "kernel" : "userspace") << details.dump();
  }

  nlohmann::json l2tp_details(const std::string& id = "l0") {
    auto netdevs = qmp_->execute("query-netdevs");
    if (!netdevs.ok() || !netdevs->ok()) return {};
    for (const auto& netdev : netdevs->value()) {
      if (netdev["id"] == id) return netdev["details"];
    }
    return {};
  }

  // Frames both ways between the test's UDP socket and the kernel's l2tpeth.
  void exchange(const std::string& ifname) {
    auto before = l2tp_details();
    auto wire = PacketSocket::open(ifname);
    ASSERT_OK(wire);
    sockaddr_in to = loopback(kSocketNetdevPort);
    for (size_t size : {60, 1400}) {
      auto out = frame(size, static_cast<uint8_t>(size));
      ASSERT_EQ(sendto(udp_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                ssize_t(out.size()));
      ASSERT_TRUE(arrives(*wire, out)) << size << " bytes: vnetd -> kernel did not arrive on " << ifname;

      auto back = frame(size, static_cast<uint8_t>(size + 1));
      ASSERT_OK(wire->send(back));
      pollfd ready{udp_.get(), POLLIN, 0};
      ASSERT_EQ(poll(&ready, 1, 3000), 1) << size << " bytes: kernel -> vnetd did not arrive; vnetd: "
                                           << l2tp_details().dump() << "; kernel: " << kernel_counters(ifname);
      std::vector<uint8_t> buffer(70000);
      ssize_t n = recv(udp_.get(), buffer.data(), buffer.size(), 0);
      buffer.resize(n > 0 ? size_t(n) : 0);
      EXPECT_EQ(buffer, back) << size << " bytes: kernel -> vnetd";
    }
    auto details = l2tp_details();
    EXPECT_EQ(details["frames-in"].get<int64_t>() - before["frames-in"].get<int64_t>(), 2) << details.dump();
    EXPECT_EQ(details["frames-out"].get<int64_t>() - before["frames-out"].get<int64_t>(), 2) << details.dump();
  }

  // The ip l2tp end of the first case: tunnel 1, session 100 <-> 200, cookies.
  void add_kernel_peer(int sport, int dport) {
    ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
                 "udp_sport " + std::to_string(sport) + " udp_dport " + std::to_string(dport)), 0);
    ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
                 "cookie 0a0b0c0d peer_cookie 01020304 l2spec_type none"), 0);
    ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  }
  static nlohmann::json to_kernel_peer(int sport, int dport) {
    return {{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", std::to_string(sport)},
            {"dstport", std::to_string(dport)}, {"txsession", 100}, {"rxsession", 200}, {"txcookie", 0x01020304},
            {"rxcookie", 0x0a0b0c0d}};
  }
  void reconnect() {
    auto qmp = QmpClient::connect(vnetd_->socket_path());
    ASSERT_OK(qmp);
    qmp_ = std::make_unique<QmpClient>(std::move(*qmp));
  }

  std::unique_ptr<VnetdProcess> vnetd_;
  std::unique_ptr<QmpClient> qmp_;
  UniqueFd udp_;
};

// The same cases for vnetd's userspace l2tpv3 and for the kernel's.
class L2tp : public L2tpBase, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(Path, L2tp, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Offloaded" : "Userspace"; });

// The kernel's `cookie` goes out in its packets and `peer_cookie` is required
// in what it receives; `session_id` is its own, `peer_session_id` the peer's.
TEST_P(L2tp, UdpEncapsulationWithCookiesBothWays) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5001 udp_dport 5000"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0a0b0c0d peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5000"}, {"dstport", "5001"},
                  {"txsession", 100}, {"rxsession", 200}, {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}}, GetParam());
  exchange("l2tpeth0");
}

TEST_P(L2tp, UdpEncapsulationWith64BitCookiesAndTheDefaultSublayer) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5011 udp_dport 5010"), 0);
  // l2spec_type default: a 4-byte sublayer, which vnetd's counter=on puts in
  // the same place.
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 1122334455667788 peer_cookie 0102030405060708 l2spec_type default"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5010"}, {"dstport", "5011"},
                  {"txsession", 100}, {"rxsession", 200}, {"cookie64", true}, {"counter", true},
                  {"txcookie", 0x0102030405060708ull}, {"rxcookie", 0x1122334455667788ull}}, GetParam());
  exchange("l2tpeth0");
}

TEST_P(L2tp, IpEncapsulationWithCookiesBothWays) {
  // Distinct addresses: each raw socket gets only the packets sent to it.
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap ip local 127.0.0.2 remote 127.0.0.3"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0a0b0c0d peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.3"}, {"dst", "127.0.0.2"}, {"txsession", 100}, {"rxsession", 200},
                  {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}}, GetParam());
  exchange("l2tpeth0");
}

TEST_P(L2tp, AWrongCookieFromTheKernelIsDroppedAndCounted) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5021 udp_dport 5020"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0badc0de peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5020"}, {"dstport", "5021"},
                  {"txsession", 100}, {"rxsession", 200}, {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}}, GetParam());
  auto wire = PacketSocket::open("l2tpeth0");
  ASSERT_OK(wire);
  for (int i = 0; i < 3; i++) ASSERT_OK(wire->send(frame(60, static_cast<uint8_t>(i))));
  pollfd ready{udp_.get(), POLLIN, 0};
  EXPECT_EQ(poll(&ready, 1, 500), 0) << "a frame with the wrong cookie came through";
  nlohmann::json details;
  for (int i = 0; i < 50; i++) {
    details = l2tp_details();
    if (details["drops-cookie"] == 3) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(details["drops-cookie"], 3) << details.dump();
  EXPECT_EQ(details["frames-in"], 0) << details.dump();
}


using L2tpOffload = L2tpBase;

std::vector<uint8_t> vlan_frame(size_t size, uint8_t tag) {
  auto out = frame(size, tag);
  const uint8_t vlan[4] = {0x81, 0x00, 0x00, 0x2a};  // VLAN 42, then the probe ethertype
  out.insert(out.begin() + 12, vlan, vlan + 4);
  out.resize(size);
  return out;
}

// A UDP socket of the test's own on 127.0.0.1:port.
UniqueFd bound_udp(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(port);
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return UniqueFd();
  return fd;
}

std::optional<std::vector<uint8_t>> receive_datagram(int fd, int timeout_ms) {
  pollfd ready{fd, POLLIN, 0};
  if (poll(&ready, 1, timeout_ms) != 1) return std::nullopt;
  std::vector<uint8_t> buffer(70000);
  ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
  buffer.resize(n > 0 ? size_t(n) : 0);
  return buffer;
}

// The offloaded pseudowire against vnetd's userspace one (proven against
// QEMU 7.2's on the host): hub 0 has the test's socket netdev s1 and the
// kernel's l0; hub 1 the userspace l1 and socket netdev s2 to a second test
// socket (the test's sockets stay on IPv4). Frames of 60 and 1514 bytes and
// VLAN-tagged 1518 cross both ways.
// The tunnel over IPv4 and over IPv6 (the guest's /init turns IPv6 off: the
// test turns it on for lo while it runs).
class L2tpOffloadInterop : public L2tpBase, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    L2tpBase::SetUp();
    if (ipv6()) {
      ASSERT_TRUE(write_knob("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "0"));
    }
  }
  void TearDown() override {
    if (ipv6()) (void)write_knob("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "1");
    L2tpBase::TearDown();
  }
  bool ipv6() const { return GetParam() == "::1"; }
  static bool write_knob(const char* path, const char* value) {
    FILE* knob = std::fopen(path, "w");
    if (!knob) return false;
    bool written = std::fputs(value, knob) >= 0;
    return (std::fclose(knob) == 0) && written;
  }
};
INSTANTIATE_TEST_SUITE_P(Over, L2tpOffloadInterop, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return info.param == "::1" ? "Ipv6" : "Ipv4"; });

TEST_P(L2tpOffloadInterop, WithVnetdsUserspaceL2tpv3BothWays) {
  constexpr uint16_t kSecondTestPort = 47703, kSecondSocketNetdevPort = 47704;
  UniqueFd udp2 = bound_udp(kSecondTestPort);
  ASSERT_TRUE(udp2);
  const nlohmann::json tunnel = {{"src", GetParam()}, {"dst", GetParam()}, {"udp", true}, {"cookie64", true},
                                 {"counter", true}, {"ipv6", ipv6()}};
  nlohmann::json kernel_end = tunnel, user_end = tunnel;
  kernel_end.update({{"type", "l2tpv3"}, {"id", "l0"}, {"offload", true}, {"srcport", "5030"}, {"dstport", "5031"},
                     {"txsession", 300}, {"rxsession", 400}, {"txcookie", 0x1111222233334444ull},
                     {"rxcookie", 0x5555666677778888ull}});
  user_end.update({{"type", "l2tpv3"}, {"id", "l1"}, {"offload", false}, {"srcport", "5031"}, {"dstport", "5030"},
                   {"txsession", 400}, {"rxsession", 300}, {"txcookie", 0x5555666677778888ull},
                   {"rxcookie", 0x1111222233334444ull}});
  for (const auto& netdev :
       {kernel_end, nlohmann::json{{"type", "hubport"}, {"id", "h0"}, {"hubid", 0}, {"netdev", "l0"}},
        nlohmann::json{{"type", "socket"}, {"id", "s1"}, {"udp", "127.0.0.1:" + std::to_string(kTestPort)},
                       {"localaddr", "127.0.0.1:" + std::to_string(kSocketNetdevPort)}},
        nlohmann::json{{"type", "hubport"}, {"id", "h1"}, {"hubid", 0}, {"netdev", "s1"}}, user_end,
        nlohmann::json{{"type", "hubport"}, {"id", "h2"}, {"hubid", 1}, {"netdev", "l1"}},
        nlohmann::json{{"type", "socket"}, {"id", "s2"}, {"udp", "127.0.0.1:" + std::to_string(kSecondTestPort)},
                       {"localaddr", "127.0.0.1:" + std::to_string(kSecondSocketNetdevPort)}},
        nlohmann::json{{"type", "hubport"}, {"id", "h3"}, {"hubid", 1}, {"netdev", "s2"}}}) {
    ASSERT_NO_FATAL_FAILURE(add(netdev));
  }
  ASSERT_EQ(l2tp_details("l0")["path"], "kernel") << l2tp_details("l0").dump();
  ASSERT_EQ(l2tp_details("l1")["path"], "userspace") << l2tp_details("l1").dump();
  sockaddr_in to_s1 = loopback(kSocketNetdevPort), to_s2 = loopback(kSecondSocketNetdevPort);
  int sent = 0;
  for (const auto& out : {frame(60, 1), frame(1514, 2), vlan_frame(1518, 3)}) {
    ASSERT_EQ(sendto(udp_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&to_s1), sizeof to_s1),
              ssize_t(out.size()));
    EXPECT_EQ(receive_datagram(udp2.get(), 3000), out)
        << out.size() << " bytes, kernel -> userspace; l0: " << l2tp_details("l0").dump()
        << "; l1: " << l2tp_details("l1").dump();
    auto back = out;
    back[20] ^= 0xff;
    ASSERT_EQ(sendto(udp2.get(), back.data(), back.size(), 0, reinterpret_cast<sockaddr*>(&to_s2), sizeof to_s2),
              ssize_t(back.size()));
    EXPECT_EQ(receive_datagram(udp_.get(), 3000), back)
        << back.size() << " bytes, userspace -> kernel; l0: " << l2tp_details("l0").dump()
        << "; l1: " << l2tp_details("l1").dump();
    sent++;
  }
  auto kernel = l2tp_details("l0"), user = l2tp_details("l1");
  EXPECT_EQ(kernel["frames-out"], sent) << kernel.dump();
  EXPECT_EQ(kernel["frames-in"], sent) << kernel.dump();
  EXPECT_EQ(user["frames-in"], sent) << user.dump();
  EXPECT_EQ(user["drops-cookie"], 0) << user.dump();
  EXPECT_EQ(kernel["drops-cookie"], 0) << kernel.dump();
}

// A guest's tap and the offloaded pseudowire on one hub: the kernel forwards
// between them, and vnetd's packet socket on the l2tpeth carries nothing.
TEST_F(L2tpOffload, AKernelHubForwardsBetweenAGuestsTapAndTheTunnel) {
  ASSERT_NO_FATAL_FAILURE(add_kernel_peer(5041, 5040));
  nlohmann::json l0 = to_kernel_peer(5040, 5041);
  l0.update({{"type", "l2tpv3"}, {"id", "l0"}});  // offload= absent: the kernel, as it can
  for (const auto& netdev : {l0, nlohmann::json{{"type", "hubport"}, {"id", "h0"}, {"hubid", 0}, {"netdev", "l0"}},
                             nlohmann::json{{"type", "hubport"}, {"id", "h1"}, {"hubid", 0}},
                             nlohmann::json{{"type", "nic"}, {"id", "n0"}, {"netdev", "h1"},
                                            {"macaddr", "52:54:00:12:35:01"}, {"ifname", "lt0"}}}) {
    ASSERT_NO_FATAL_FAILURE(add(netdev));
  }
  auto hubs = qmp_->execute("query-hubs");
  ASSERT_OK(hubs);
  ASSERT_EQ(hubs->value()[0]["forwarding"], "kernel") << hubs->value().dump();
  auto fds = qmp_->execute("netdev-get-fds", {{"id", "n0"}});
  ASSERT_OK(fds);
  ASSERT_TRUE(fds->ok()) << fds->message.dump();
  ASSERT_EQ(fds->fds.size(), 1u);
  int vmm = fds->fds[0].get();
  int header_size = 0;
  ifreq request{};
  ASSERT_EQ(ioctl(vmm, TUNGETIFF, &request), 0);
  if (request.ifr_flags & IFF_VNET_HDR) {
    ASSERT_EQ(ioctl(vmm, TUNGETVNETHDRSZ, &header_size), 0);
  }
  auto wire = PacketSocket::open("l2tpeth0");
  ASSERT_OK(wire);
  for (size_t size : {60, 1514}) {
    auto out = frame(size, static_cast<uint8_t>(size));
    std::vector<uint8_t> written(header_size, 0);
    written.insert(written.end(), out.begin(), out.end());
    ASSERT_EQ(write(vmm, written.data(), written.size()), ssize_t(written.size()));
    ASSERT_TRUE(arrives(*wire, out)) << size << " bytes: the guest's frame did not reach the ip l2tp end; l0: "
                                      << l2tp_details().dump() << "; kernel: " << kernel_counters("l2tpeth0");

    auto back = frame(size, static_cast<uint8_t>(size + 1));
    ASSERT_OK(wire->send(back));
    pollfd ready{vmm, POLLIN, 0};
    std::vector<uint8_t> read_back;
    for (int i = 0; i < 20 && read_back != back; i++) {
      ASSERT_EQ(poll(&ready, 1, 3000), 1) << size << " bytes: nothing reached the guest; l0: " << l2tp_details().dump();
      std::vector<uint8_t> buffer(70000);
      ssize_t n = read(vmm, buffer.data(), buffer.size());
      ASSERT_GT(n, header_size);
      read_back.assign(buffer.begin() + header_size, buffer.begin() + n);
    }
    EXPECT_EQ(read_back, back) << size << " bytes: the tunnel's frame to the guest";
  }
  auto details = l2tp_details();
  EXPECT_EQ(details["frames-in"], 2) << details.dump();
  EXPECT_EQ(details["frames-out"], 2) << details.dump();
  // vnetd moved none of them: its packet socket on l2tpeth sent nothing and
  // handed nothing on.
  EXPECT_EQ(details["host-side"]["frames-from-guest"], 0) << details.dump();
  EXPECT_EQ(details["host-side"]["frames-to-guest"], 0) << details.dump();

  // set_link off takes the pseudowire down: the guest's frames stop there.
  auto down = qmp_->execute("set_link", {{"name", "l0"}, {"up", false}});
  ASSERT_OK(down);
  ASSERT_TRUE(down->ok()) << down->message.dump();
  auto out = frame(60, 0x77);
  std::vector<uint8_t> written(header_size, 0);
  written.insert(written.end(), out.begin(), out.end());
  (void)write(vmm, written.data(), written.size());
  auto quiet = wire->receive(500ms);
  ASSERT_OK(quiet);
  EXPECT_FALSE(quiet->has_value()) << "a frame crossed a pseudowire whose link is down";
  auto up = qmp_->execute("set_link", {{"name", "l0"}, {"up", true}});
  ASSERT_OK(up);
  ASSERT_TRUE(up->ok()) << up->message.dump();
  ASSERT_EQ(write(vmm, written.data(), written.size()), ssize_t(written.size()));
  auto crossed = wire->receive(2000ms);
  ASSERT_OK(crossed);
  EXPECT_TRUE(crossed->has_value() && **crossed == out) << "nothing crossed once the link was up again";

  // The pseudowire deleted from under the kernel hub: its device leaves the
  // forwarder first, then goes; the guest's port stays.
  auto deleted = qmp_->execute("netdev_del", {{"id", "l0"}});
  ASSERT_OK(deleted);
  ASSERT_TRUE(deleted->ok()) << deleted->message.dump();
  EXPECT_EQ(if_nametoindex(details["ifname"].get<std::string>().c_str()), 0u);
  hubs = qmp_->execute("query-hubs");
  ASSERT_OK(hubs);
  EXPECT_EQ(hubs->value()[0]["ports"], nlohmann::json::array({"h0", "h1"})) << hubs->value().dump();
  ASSERT_EQ(write(vmm, written.data(), written.size()), ssize_t(written.size())) << "the guest's tap still takes frames";
}

TEST_F(L2tpOffload, DeletingTheNetdevRemovesItsTunnelSessionAndDevice) {
  nlohmann::json l0 = to_kernel_peer(5050, 5051);
  l0.update({{"type", "l2tpv3"}, {"id", "l0"}, {"offload", true}});
  ASSERT_NO_FATAL_FAILURE(add(l0));
  auto details = l2tp_details();
  ASSERT_EQ(details["path"], "kernel") << details.dump();
  std::string ifname = details["ifname"];
  int64_t tunnel_id = details["tunnel-id"];
  ASSERT_NE(if_nametoindex(ifname.c_str()), 0u);
  ASSERT_EQ(ip("l2tp show tunnel tunnel_id " + std::to_string(tunnel_id)), 0);
  ASSERT_NE(kernel_counters(ifname).find("Tunnel " + std::to_string(tunnel_id)), std::string::npos)
      << kernel_counters(ifname);

  auto deleted = qmp_->execute("netdev_del", {{"id", "l0"}});
  ASSERT_OK(deleted);
  ASSERT_TRUE(deleted->ok()) << deleted->message.dump();
  // Gone by the time the reply came.
  EXPECT_EQ(if_nametoindex(ifname.c_str()), 0u) << ifname << " is still there";
  std::string left = kernel_counters(ifname);
  EXPECT_EQ(left.find("Tunnel " + std::to_string(tunnel_id)), std::string::npos) << left;
  EXPECT_EQ(left.find("Session 200"), std::string::npos) << left;
  // Its port is free again: the same netdev can be made at once.
  ASSERT_NO_FATAL_FAILURE(add(l0));
  EXPECT_EQ(l2tp_details()["path"], "kernel");
}

TEST_F(L2tpOffload, OnlyWhatTheKernelCanCarryIsOffloaded) {
  nlohmann::json with_offset = to_kernel_peer(5060, 5061);
  with_offset.update({{"type", "l2tpv3"}, {"id", "l0"}, {"offset", 4}});
  ASSERT_NO_FATAL_FAILURE(add(with_offset));
  auto details = l2tp_details();
  EXPECT_EQ(details["path"], "userspace") << details.dump();
  EXPECT_NE(details["userspace-reason"].get<std::string>().find("offset"), std::string::npos) << details.dump();

  nlohmann::json forced = with_offset;
  forced.update({{"id", "l1"}, {"offload", true}, {"srcport", "5062"}});
  auto refused = qmp_->execute("netdev_add", forced);
  ASSERT_OK(refused);
  ASSERT_FALSE(refused->ok());
  EXPECT_NE(refused->message.dump().find("offset"), std::string::npos) << refused->message.dump();
  EXPECT_TRUE(l2tp_details("l1").is_null()) << "a refused netdev_add left l1";

  nlohmann::json off = to_kernel_peer(5063, 5064);
  off.update({{"type", "l2tpv3"}, {"id", "l2"}, {"offload", false}});
  ASSERT_NO_FATAL_FAILURE(add(off));
  EXPECT_EQ(l2tp_details("l2")["userspace-reason"], "offload=off") << l2tp_details("l2").dump();
}

// SIGKILL of vnetd: the kernel's tunnel carries on, and the restarted vnetd
// takes it back as it was (same tunnel, same device), frames still crossing.
TEST_F(L2tpOffload, ARestartedVnetdKeepsTheTunnel) {
  ASSERT_NO_FATAL_FAILURE(add_kernel_peer(5071, 5070));
  add_vnetd_side(to_kernel_peer(5070, 5071), true);
  ASSERT_NO_FATAL_FAILURE(exchange("l2tpeth0"));
  auto before = l2tp_details();
  ASSERT_OK(vnetd_->kill_and_restart());
  ASSERT_NO_FATAL_FAILURE(reconnect());
  auto after = l2tp_details();
  EXPECT_EQ(after["path"], "kernel") << after.dump();
  EXPECT_EQ(after["tunnel-id"], before["tunnel-id"]) << after.dump();
  EXPECT_EQ(after["ifindex"], before["ifindex"]) << after.dump();
  EXPECT_EQ(after["frames-in"], before["frames-in"]) << "the kernel's counters carry on: " << after.dump();
  ASSERT_NO_FATAL_FAILURE(exchange("l2tpeth0"));
}

}  // namespace
}  // namespace vnet::lab
