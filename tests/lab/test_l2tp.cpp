// Lab tests: vnetd's l2tpv3 netdev against the kernel's own L2TPv3 pseudowire
// (l2tp_eth, set up with iproute2's `ip l2tp`), over UDP and over IP, with
// cookies. Frames cross both ways:
//   test UDP socket -> vnetd socket netdev -> hub -> l2tpv3 netdev -> kernel -> l2tpeth (captured)
//   l2tpeth (sent) -> kernel -> l2tpv3 netdev -> hub -> socket netdev -> test UDP socket
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
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
  (void)std::system(("/usr/bin/ip-full -s l2tp show session >/tmp/lab-l2tp-state 2>&1; /usr/bin/ip-full -s link show " +
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

class L2tp : public ::testing::Test {
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

  // vnetd: l2tpv3 (l2tp_options) and a socket netdev to this test, on a hub.
  void add_vnetd_side(nlohmann::json l2tp_options) {
    l2tp_options["type"] = "l2tpv3";
    l2tp_options["id"] = "l0";
    for (const auto& netdev : {l2tp_options, nlohmann::json{{"type", "hubport"}, {"id", "h0"}, {"hubid", 0}, {"netdev", "l0"}},
                               nlohmann::json{{"type", "socket"}, {"id", "s1"},
                                              {"udp", "127.0.0.1:" + std::to_string(kTestPort)},
                                              {"localaddr", "127.0.0.1:" + std::to_string(kSocketNetdevPort)}},
                               nlohmann::json{{"type", "hubport"}, {"id", "h1"}, {"hubid", 0}, {"netdev", "s1"}}}) {
      auto added = qmp_->execute("netdev_add", netdev);
      ASSERT_OK(added);
      ASSERT_TRUE(added->ok()) << netdev.dump() << ": " << added->message.dump();
    }
  }

  nlohmann::json l2tp_details() {
    auto netdevs = qmp_->execute("query-netdevs");
    if (!netdevs.ok() || !netdevs->ok()) return {};
    for (const auto& netdev : netdevs->value()) {
      if (netdev["id"] == "l0") return netdev["details"];
    }
    return {};
  }

  // Frames both ways between the test's UDP socket and the kernel's l2tpeth.
  void exchange(const std::string& ifname) {
    auto wire = PacketSocket::open(ifname);
    ASSERT_OK(wire);
    sockaddr_in to = loopback(kSocketNetdevPort);
    for (size_t size : {60, 1400}) {
      auto out = frame(size, static_cast<uint8_t>(size));
      ASSERT_EQ(sendto(udp_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                ssize_t(out.size()));
      std::optional<std::vector<uint8_t>> got;
      // The device may also see its own IPv6/ARP chatter: wait for ours.
      for (int i = 0; i < 20 && !(got && *got == out); i++) {
        auto received = wire->receive(2000ms);
        ASSERT_OK(received);
        got = *received;
        if (!got) break;
      }
      ASSERT_TRUE(got && *got == out) << size << " bytes: vnetd -> kernel did not arrive on " << ifname;

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
    EXPECT_EQ(details["frames-in"], 2) << details.dump();
    EXPECT_EQ(details["frames-out"], 2) << details.dump();
  }

  std::unique_ptr<VnetdProcess> vnetd_;
  std::unique_ptr<QmpClient> qmp_;
  UniqueFd udp_;
};

// The kernel's `cookie` goes out in its packets and `peer_cookie` is required
// in what it receives; `session_id` is its own, `peer_session_id` the peer's.
TEST_F(L2tp, UdpEncapsulationWithCookiesBothWays) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5001 udp_dport 5000"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0a0b0c0d peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5000"}, {"dstport", "5001"},
                  {"txsession", 100}, {"rxsession", 200}, {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}});
  exchange("l2tpeth0");
}

TEST_F(L2tp, UdpEncapsulationWith64BitCookiesAndTheDefaultSublayer) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5011 udp_dport 5010"), 0);
  // l2spec_type default: a 4-byte sublayer, which vnetd's counter=on puts in
  // the same place.
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 1122334455667788 peer_cookie 0102030405060708 l2spec_type default"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5010"}, {"dstport", "5011"},
                  {"txsession", 100}, {"rxsession", 200}, {"cookie64", true}, {"counter", true},
                  {"txcookie", 0x0102030405060708ull}, {"rxcookie", 0x1122334455667788ull}});
  exchange("l2tpeth0");
}

TEST_F(L2tp, IpEncapsulationWithCookiesBothWays) {
  // Distinct addresses: each raw socket gets only the packets sent to it.
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap ip local 127.0.0.2 remote 127.0.0.3"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0a0b0c0d peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.3"}, {"dst", "127.0.0.2"}, {"txsession", 100}, {"rxsession", 200},
                  {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}});
  exchange("l2tpeth0");
}

TEST_F(L2tp, AWrongCookieFromTheKernelIsDroppedAndCounted) {
  ASSERT_EQ(ip("l2tp add tunnel tunnel_id 1 peer_tunnel_id 1 encap udp local 127.0.0.1 remote 127.0.0.1 "
               "udp_sport 5021 udp_dport 5020"), 0);
  ASSERT_EQ(ip("l2tp add session name l2tpeth0 tunnel_id 1 session_id 100 peer_session_id 200 "
               "cookie 0badc0de peer_cookie 01020304 l2spec_type none"), 0);
  ASSERT_EQ(ip("link set l2tpeth0 up"), 0);
  add_vnetd_side({{"src", "127.0.0.1"}, {"dst", "127.0.0.1"}, {"udp", true}, {"srcport", "5020"}, {"dstport", "5021"},
                  {"txsession", 100}, {"rxsession", 200}, {"txcookie", 0x01020304}, {"rxcookie", 0x0a0b0c0d}});
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

}  // namespace
}  // namespace vnet::lab
