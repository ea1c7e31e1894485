// The user netdev's options as QEMU 7.2's net_slirp_init() reads them: the
// addresses it derives, its checks in its order and its texts (the texts
// themselves are compared with the real QEMU by the oracle corpus), the
// forwarding rules' syntax and order, the guestfwd targets vnetd opens, and
// a guestfwd stream against a real UNIX socket on the frame loop.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "backends/datapath/frame_loop.h"
#include "backends/user/guestfwd_stream.h"
#include "backends/user/user_options.h"

namespace vnet::user {
namespace {

std::string ip(in_addr address) {
  char text[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &address, text, sizeof text);
}

std::string ip6(const in6_addr& address) {
  char text[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &address, text, sizeof text);
}

std::string error_of(const qapi::NetdevUserOptions& options) {
  auto plan = plan_user(options);
  return plan ? "(accepted)" : plan.error().message;
}

std::vector<qapi::String> strings(std::vector<std::string> texts) {
  std::vector<qapi::String> out;
  for (auto& text : texts) out.push_back(qapi::String{std::move(text)});
  return out;
}

TEST(UserOptions, DefaultsAreQemus) {
  auto plan = plan_user({});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_TRUE(plan->ipv4);
  EXPECT_TRUE(plan->ipv6);
  EXPECT_FALSE(plan->restricted);
  EXPECT_EQ(ip(plan->net), "10.0.2.0");
  EXPECT_EQ(ip(plan->mask), "255.255.255.0");
  EXPECT_EQ(ip(plan->host), "10.0.2.2");
  EXPECT_EQ(ip(plan->dhcp_start), "10.0.2.15");
  EXPECT_EQ(ip(plan->dns), "10.0.2.3");
  EXPECT_EQ(ip6(plan->prefix6), "fec0::");
  EXPECT_EQ(plan->prefix6_len, 64);
  EXPECT_EQ(ip6(plan->host6), "fec0::2");
  EXPECT_EQ(ip6(plan->dns6), "fec0::3");
}

TEST(UserOptions, NetDerivesHostDhcpAndDns) {
  qapi::NetdevUserOptions options;
  options.net = "192.168.76.0/255.255.252.0";
  auto plan = plan_user(options);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(ip(plan->mask), "255.255.252.0");
  EXPECT_EQ(ip(plan->host), "192.168.78.2");  // net | (0x0202 & ~mask)
  EXPECT_EQ(ip(plan->dhcp_start), "192.168.78.15");
  EXPECT_EQ(ip(plan->dns), "192.168.78.3");
  options.net = "10.1.2.3/8";  // host bits are dropped
  plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_EQ(ip(plan->net), "10.0.0.0");
  EXPECT_EQ(ip(plan->host), "10.0.2.2");
}

TEST(UserOptions, BareNetGetsItsClassfulMaskAndIpMeansSlash24) {
  qapi::NetdevUserOptions options;
  options.net = "172.16.0.0";
  auto plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_EQ(ip(plan->mask), "255.240.0.0");
  options.net = "192.168.5.0";
  plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_EQ(ip(plan->mask), "255.255.0.0");
  options.net.reset();
  options.ip = "10.7.7.0";
  plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_EQ(ip(plan->mask), "255.255.255.0");
  EXPECT_EQ(ip(plan->dhcp_start), "10.7.7.15");
}

TEST(UserOptions, Ipv4OnAloneTurnsIpv6OffAndTheReverse) {
  qapi::NetdevUserOptions options;
  options.ipv4 = true;
  auto plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->ipv4);
  EXPECT_FALSE(plan->ipv6);
  options.ipv4.reset();
  options.ipv6 = true;
  plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->ipv4);
  EXPECT_TRUE(plan->ipv6);
  options.ipv4 = true;  // both on: both stay on
  plan = plan_user(options);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->ipv4 && plan->ipv6);
}

TEST(UserOptions, ChecksInQemusOrderWithItsTexts) {
  struct Case {
    qapi::NetdevUserOptions options;
    const char* error;
  };
  auto with = [](auto set) {
    qapi::NetdevUserOptions options;
    set(options);
    return options;
  };
  std::vector<Case> cases{
      {with([](auto& o) { o.ipv4 = false, o.ipv6 = false; }), "IPv4 and IPv6 disabled"},
      // The disabled-with-options checks come before the both-disabled one.
      {with([](auto& o) { o.ipv4 = false, o.ipv6 = false, o.dns = "1.2.3.4"; }),
       "IPv4 disabled but netmask/host/dns provided"},
      {with([](auto& o) { o.ipv6 = false, o.ipv6_dns = "fec0::9"; }), "IPv6 disabled but prefix/host6/dns6 provided"},
      {with([](auto& o) { o.net = "10.0.0.0/3"; }), "Invalid netmask provided (must be in range 4-32)"},
      {with([](auto& o) { o.net = "10.0.0.0/24x"; }), "Failed to parse netmask (trailing chars)"},
      // inet_aton() reads "1.2.3" as 1.2.0.3: a mask QEMU takes, then fails on.
      {with([](auto& o) { o.net = "10.0.0.0/1.2.3"; }), "DNS must be different from host"},
      {with([](auto& o) { o.net = "ten/24"; }), "Failed to parse netmask"},
      {with([](auto& o) { o.host = "10.0.3.2"; }), "Host doesn't belong to network"},
      {with([](auto& o) { o.host = "h"; }), "Failed to parse host"},
      {with([](auto& o) { o.dns = "10.0.2.2"; }), "DNS must be different from host"},
      // Only a restricted netdev needs its DNS inside the network.
      {with([](auto& o) { o.restrict = true, o.dns = "8.8.8.8"; }), "DNS doesn't belong to network"},
      {with([](auto& o) { o.dhcpstart = "10.0.3.15"; }), "DHCP doesn't belong to network"},
      {with([](auto& o) { o.dhcpstart = "10.0.2.2"; }), "DHCP must be different from host and DNS"},
      // A bad host is told before a bad dhcpstart.
      {with([](auto& o) { o.host = "10.9.9.9", o.dhcpstart = "x"; }), "Host doesn't belong to network"},
      {with([](auto& o) { o.smbserver = "s"; }), "Failed to parse SMB address"},
      {with([](auto& o) { o.ipv6_prefix = "fec0::/64"; }), "Failed to parse IPv6 prefix"},
      {with([](auto& o) { o.ipv6_prefixlen = 127; }),
       "Invalid IPv6 prefix provided (IPv6 prefix length must be between 0 and 126)"},
      {with([](auto& o) { o.ipv6_host = "fec1::2"; }), "IPv6 Host doesn't belong to network"},
      {with([](auto& o) { o.restrict = true, o.ipv6_dns = "fec1::3"; }), "IPv6 DNS doesn't belong to network"},
      {with([](auto& o) { o.domainname = ""; }), "'domainname' parameter cannot be empty"},
      {with([](auto& o) { o.hostname = std::string(256, 'h'); }), "'vhostname' parameter cannot exceed 255 bytes"},
      {with([](auto& o) { o.tftp_server_name = std::string(256, 't'); }),
       "'tftp-server-name' parameter cannot exceed 255 bytes"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(c.options), c.error);
  // The limits themselves are allowed.
  EXPECT_EQ(error_of(with([](auto& o) { o.hostname = std::string(255, 'h'); })), "(accepted)");
  EXPECT_EQ(error_of(with([](auto& o) { o.net = "10.0.0.0/4"; })), "(accepted)");
  EXPECT_EQ(error_of(with([](auto& o) { o.ipv6_prefixlen = 126; })), "(accepted)");
  EXPECT_EQ(error_of(with([](auto& o) { o.dns = "8.8.8.8"; })), "(accepted)");
}

TEST(UserOptions, ForwardsAreKeptInQemusOrderAndNotParsedHere) {
  qapi::NetdevUserOptions options;
  options.hostfwd = strings({"h1", "h2"});
  options.guestfwd = strings({"g1", "g2"});
  auto plan = plan_user(options);  // rules are checked as they are set up
  ASSERT_TRUE(plan) << plan.error().message;
  std::vector<std::string> order;
  for (const auto& rule : plan->forwards) order.push_back((rule.host ? "host " : "guest ") + rule.rule);
  EXPECT_EQ(order, (std::vector<std::string>{"guest g2", "guest g1", "host h2", "host h1"}));
}

TEST(HostForwardRule, FieldsAndDefaults) {
  auto forward = parse_hostfwd("udp:127.0.0.1:0x1F90-10.0.2.9:22");
  ASSERT_TRUE(forward) << forward.error().message;
  EXPECT_TRUE(forward->udp);
  EXPECT_EQ(ip(forward->host.sin_addr), "127.0.0.1");
  EXPECT_EQ(ntohs(forward->host.sin_port), 8080);  // base 0, as qemu_strtoi
  EXPECT_EQ(ip(forward->guest.sin_addr), "10.0.2.9");
  EXPECT_EQ(ntohs(forward->guest.sin_port), 22);
  forward = parse_hostfwd("::0-:80");  // empty protocol is tcp; empty addresses are 0
  ASSERT_TRUE(forward) << forward.error().message;
  EXPECT_FALSE(forward->udp);
  EXPECT_EQ(forward->host.sin_addr.s_addr, 0u);
  EXPECT_EQ(forward->guest.sin_addr.s_addr, 0u);
}

TEST(HostForwardRule, QemusReasons) {
  std::vector<std::pair<std::string, std::string>> cases{
      {"bogus", "No : separators"},
      {"icmp::1-:2", "Bad protocol name"},
      {"tcp:1.2.3.4", "Missing : separator"},
      {"tcp:1.2.3.400:1-:2", "Bad host address"},
      {"tcp::1", "Bad host port separator"},
      {"tcp::-1-:2", "Bad host port"},
      {"tcp::65536-:2", "Bad host port"},
      {"tcp::1-2", "Missing guest address"},
      {"tcp::1-x:2", "Bad guest address"},
      {"tcp::1-:0", "Bad guest port"},
      {"tcp::1-:65536", "Bad guest port"},
  };
  for (const auto& [rule, reason] : cases) {
    auto forward = parse_hostfwd(rule);
    ASSERT_FALSE(forward) << rule;
    EXPECT_EQ(forward.error().message, "Invalid host forwarding rule '" + rule + "' (" + reason + ")");
  }
}

TEST(GuestForwardRule, FieldsAndQemusText) {
  auto forward = parse_guestfwd("tcp:10.0.2.100:4321-cmd:netcat 10.1.1.1 22");
  ASSERT_TRUE(forward) << forward.error().message;
  EXPECT_EQ(ip(forward->server), "10.0.2.100");
  EXPECT_EQ(forward->port, 4321);
  EXPECT_EQ(forward->target, "cmd:netcat 10.1.1.1 22");
  forward = parse_guestfwd(":10.0.2.100:1-null");  // empty protocol is tcp
  ASSERT_TRUE(forward);
  forward = parse_guestfwd("tcp::1-null");  // empty server: slirp picks it
  ASSERT_TRUE(forward);
  EXPECT_EQ(forward->server.s_addr, 0u);
  for (std::string rule : {"udp:10.0.2.100:1-null", "tcp:10.0.2.100:0-null", "tcp:10.0.2.100:65536-null",
                           "tcp:10.0.2.100:1", "tcp:x:1-null", "tcp"}) {
    forward = parse_guestfwd(rule);
    ASSERT_FALSE(forward) << rule;
    EXPECT_EQ(forward.error().message, "Invalid guest forwarding rule '" + rule + "'");
  }
}

TEST(GuestForwardTarget, KindsVnetdOpens) {
  auto target = parse_guestfwd_target("tcp:127.0.0.1:5555", 7);
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->kind, GuestfwdTarget::Kind::tcp);
  EXPECT_EQ(target->host, "127.0.0.1");
  EXPECT_EQ(target->port, "5555");
  EXPECT_FALSE(target->nodelay);
  target = parse_guestfwd_target("tcp:localhost:5555,nodelay", 7);
  ASSERT_TRUE(target);
  EXPECT_TRUE(target->nodelay);
  target = parse_guestfwd_target("tcp:localhost:5555,nodelay=yes,nodelay=off", 7);
  ASSERT_TRUE(target);
  EXPECT_FALSE(target->nodelay);
  target = parse_guestfwd_target("unix:/run/x.sock", 7);
  ASSERT_TRUE(target);
  EXPECT_EQ(target->kind, GuestfwdTarget::Kind::unix_socket);
  EXPECT_EQ(target->path, "/run/x.sock");
  target = parse_guestfwd_target("null", 7);
  ASSERT_TRUE(target);
  EXPECT_EQ(target->kind, GuestfwdTarget::Kind::null);
}

TEST(GuestForwardTarget, WhatQemuRefusesGetsItsTextAlone) {
  for (std::string spec : {"tcp::5555", "tcp:127.0.0.1", "tcp:127.0.0.1:", "unix:", "null,x=1",
                           "tcp:127.0.0.1:5555,nodelay=maybe"}) {
    auto target = parse_guestfwd_target(spec, 9);
    ASSERT_FALSE(target) << spec;
    EXPECT_EQ(target.error().message, "Could not open guest forwarding device 'guestfwd.tcp.9'") << spec;
  }
}

TEST(GuestForwardTarget, ChardevsVnetdLacksSaySo) {
  for (std::string spec : {"file:/tmp/x", "pipe:/tmp/p", "udp:127.0.0.1:1", "stdio", "pty",
                           "tcp:127.0.0.1:1,server=on,wait=off", "unix:/tmp/s,server=on", "bogus"}) {
    auto target = parse_guestfwd_target(spec, 9);
    ASSERT_FALSE(target) << spec;
    EXPECT_EQ(target.error().message.rfind("Could not open guest forwarding device 'guestfwd.tcp.9': vnetd has no "
                                           "chardevs",
                                           0),
              0u)
        << target.error().message;
  }
}

// A guestfwd stream to a UNIX socket, moved by the frame loop: bytes both
// ways, the host side read only while the guest has room, its end seen.
class GuestfwdStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vnet-guestfwd.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/s";
    listener_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path_.c_str());
    ASSERT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(listen(listener_.get(), 1), 0);
    auto loop = datapath::FrameLoop::create();
    ASSERT_TRUE(loop) << loop.error().message;
    loop_ = std::move(*loop);
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  // Runs the loop until done() or rounds * 10 ms pass.
  bool run_until(const std::function<bool()>& done, int rounds = 200) {
    for (int i = 0; i < rounds && !done(); i++) {
      pollfd ready{loop_->event_fd(), POLLIN, 0};
      if (poll(&ready, 1, 10) > 0) loop_->process();
    }
    return done();
  }

  std::string dir_, path_;
  UniqueFd listener_;
  std::unique_ptr<datapath::FrameLoop> loop_;
};

TEST_F(GuestfwdStreamTest, BytesBothWaysAndTheGuestsRoomIsRespected) {
  size_t room = 0;
  std::string delivered;
  GuestfwdTarget target;
  target.kind = GuestfwdTarget::Kind::unix_socket;
  target.path = path_;
  auto stream = GuestfwdStream::open(
      target, 5, *loop_, [&] { return room; },
      [&](std::span<const uint8_t> bytes) { delivered.append(bytes.begin(), bytes.end()); });
  ASSERT_TRUE(stream) << stream.error().message;
  UniqueFd host(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(host);

  std::string from_guest = "from the guest";
  GuestfwdStream::on_slirp_write(from_guest.data(), from_guest.size(), stream->get());
  char buffer[64] = {};
  ASSERT_EQ(recv(host.get(), buffer, sizeof buffer, 0), static_cast<ssize_t>(from_guest.size()));
  EXPECT_EQ(std::string(buffer, from_guest.size()), from_guest);

  ASSERT_EQ(send(host.get(), "0123456789", 10, 0), 10);
  (*stream)->refresh();
  EXPECT_FALSE(run_until([&] { return !delivered.empty(); }, 20)) << "read while the guest had no room";
  room = 4;  // the guest's connection takes 4 bytes at a time
  (*stream)->refresh();
  ASSERT_TRUE(run_until([&] { return delivered.size() == 10; })) << delivered;
  EXPECT_EQ(delivered, "0123456789");
  EXPECT_EQ((*stream)->bytes_to_guest(), 10u);
  EXPECT_EQ((*stream)->bytes_to_host(), from_guest.size());

  host.reset();  // the host end goes: later bytes from the guest are dropped
  ASSERT_TRUE(run_until([&] { return !(*stream)->open_now(); }));
  GuestfwdStream::on_slirp_write("lost", 4, stream->get());
  EXPECT_EQ((*stream)->drops(), 4u);
}

TEST_F(GuestfwdStreamTest, NoListenerIsQemusOpenError) {
  GuestfwdTarget target;
  target.kind = GuestfwdTarget::Kind::unix_socket;
  target.path = dir_ + "/absent";
  auto stream = GuestfwdStream::open(
      target, 6, *loop_, [] { return size_t{0}; }, [](std::span<const uint8_t>) {});
  ASSERT_FALSE(stream);
  EXPECT_EQ(stream.error().message, "Could not open guest forwarding device 'guestfwd.tcp.6'");
  EXPECT_EQ(stream.error().errnum, ENOENT);
}

TEST_F(GuestfwdStreamTest, TheNullSinkTakesEverything) {
  auto stream = GuestfwdStream::open(
      GuestfwdTarget{}, 7, *loop_, [] { return size_t{100}; }, [](std::span<const uint8_t>) {});
  ASSERT_TRUE(stream);
  GuestfwdStream::on_slirp_write("abc", 3, stream->get());
  EXPECT_EQ((*stream)->bytes_to_host(), 3u);
  EXPECT_EQ((*stream)->drops(), 0u);
}

}  // namespace
}  // namespace vnet::user
