// vnetctl-cni: the netdev id of an attachment, the netdev_add it sends, the
// record it finds again in query-netdevs, and CHECK's comparison.
#include <gtest/gtest.h>

#include <set>

#include "ctl/cni/anti_spoof_nic.h"
#include "ctl/cni/link_check.h"
#include "ctl/cni/vnetd_attachments.h"

namespace vnet::cni {
namespace {

using json = nlohmann::ordered_json;

bool qemu_id_wellformed(const std::string& id) {
  if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

TEST(AttachmentId, StableWellFormedAndDistinct) {
  AttachmentKey key{"mynet", "abc", "eth0"};
  std::string id = netdev_id_for(key);
  EXPECT_EQ(id.size(), 4u + 32u);
  EXPECT_EQ(id.rfind("cni-", 0), 0u);
  EXPECT_TRUE(qemu_id_wellformed(id));
  // Fixed across builds and hosts: a restarted runtime finds its taps.
  EXPECT_EQ(id, netdev_id_for({"mynet", "abc", "eth0"}));
  EXPECT_EQ(id, "cni-" + id.substr(4));
  std::set<std::string> ids;
  for (int container = 0; container < 2000; container++) {
    for (const char* ifname : {"eth0", "net1"}) {
      ids.insert(netdev_id_for({"mynet", "c" + std::to_string(container), ifname}));
    }
  }
  EXPECT_EQ(ids.size(), 4000u);
  // The parts cannot slide into each other.
  EXPECT_NE(netdev_id_for({"ab", "c", "eth0"}), netdev_id_for({"a", "bc", "eth0"}));
  EXPECT_NE(netdev_id_for({"n", "c", "eth0"}), netdev_id_for({"n2", "c", "eth0"}));
}

TEST(AttachmentId, KnownValues) {
  // FNV-1a 128 of "mynet\0abc\0eth0" and of "\0\0", as tests/cni's
  // netdev_id_for() computes them (checked there against the FNV test
  // vector: "a" hashes to d228cb696f1a8caf78912b704e4a8964). docs/cni.md
  // promises this id: a consumer may compute it.
  EXPECT_EQ(netdev_id_for({"mynet", "abc", "eth0"}), "cni-9d721543013f3358aa30a053595a1e2b");
  EXPECT_EQ(netdev_id_for({"", "", ""}), "cni-0880945b4fab1be95aa0733055273845");
}

TEST(AttachmentRequest, NetdevAddArguments) {
  TapSpec spec;
  spec.netns = "/var/run/netns/blue";
  spec.queues = 2;
  spec.mtu = 1400;
  spec.mac = "02:00:00:00:00:01";
  spec.owner = 107;
  spec.group = 108;
  spec.vhost = false;
  spec.data = {{"cniVersion", "1.1.0"}};
  auto args = netdev_add_arguments("cni-x", {"mynet", "abc", "eth0"}, spec);
  EXPECT_EQ(args.dump(),
            R"({"type":"tap","id":"cni-x","ifname":"eth0","netns":"/var/run/netns/blue","queues":2,"mtu":1400,)"
            R"("mac":"02:00:00:00:00:01","owner":107,"group":108,"vhost":false,)"
            R"("attachment":{"network":"mynet","container-id":"abc","ifname":"eth0","data":{"cniVersion":"1.1.0"}}})");
  TapSpec bare;
  bare.netns = "/proc/42/ns/net";
  EXPECT_EQ(netdev_add_arguments("cni-y", {"n", "c", "net1"}, bare).dump(),
            R"({"type":"tap","id":"cni-y","ifname":"net1","netns":"/proc/42/ns/net",)"
            R"("attachment":{"network":"n","container-id":"c","ifname":"net1","data":{}}})");
}

TEST(AttachmentRequest, OpenByNameAsksVnetdToHoldNoQueue) {
  TapSpec spec;
  spec.netns = "/var/run/netns/blue";
  spec.owner = 107;
  spec.hold_queues = false;
  EXPECT_EQ(netdev_add_arguments("cni-z", {"n", "c", "eth0"}, spec).dump(),
            R"({"type":"tap","id":"cni-z","ifname":"eth0","netns":"/var/run/netns/blue","owner":107,)"
            R"("hold-queues":false,"attachment":{"network":"n","container-id":"c","ifname":"eth0","data":{}}})");
}

TEST(AntiSpoofNic, IdAndNetdevAddArguments) {
  std::string tap = netdev_id_for({"mynet", "abc", "eth0"});
  EXPECT_EQ(nic_id_for(tap), tap + "-nic");
  EXPECT_TRUE(qemu_id_wellformed(nic_id_for(tap)));
  std::vector<IpConfig> ips = {{"10.1.0.5/16", "10.1.0.1", 0}, {"2001:db8::5/64", "", 0}, {"10.1.0.5/24", "", 0}};
  auto allowed = allowed_ips_of(ips);
  EXPECT_EQ(allowed, (std::vector<std::string>{"10.1.0.5/32", "2001:db8::5/128"}));
  EXPECT_EQ(nic_add_arguments("cni-x", "52:54:00:12:34:56", allowed).dump(),
            R"({"type":"nic","id":"cni-x-nic","netdev":"cni-x","macaddr":"52:54:00:12:34:56","anti-spoof":true,)"
            R"("allowed-ips":["10.1.0.5/32","2001:db8::5/128"]})");
  EXPECT_EQ(nic_add_arguments("cni-x", "52:54:00:12:34:56", {}).dump(),
            R"({"type":"nic","id":"cni-x-nic","netdev":"cni-x","macaddr":"52:54:00:12:34:56","anti-spoof":true,)"
            R"("allowed-ips":[]})");
}

TEST(AntiSpoofNic, CheckNamesEachDifference) {
  auto nic = json::parse(R"({"id":"cni-x-nic","type":"nic","peer":"cni-x","details":{"anti-spoof":true,
      "macaddr":"52:54:00:12:34:56","allowed-ips":["10.1.0.5/32","2001:db8::5/128"],"spoof-drops":0}})");
  std::vector<std::string> allowed = {"10.1.0.5/32", "2001:db8::5/128"};
  EXPECT_TRUE(nic_mismatches(nic, "cni-x", std::string("52:54:00:12:34:56"), allowed).empty());
  EXPECT_TRUE(nic_mismatches(nic, "cni-x", std::nullopt, {"10.1.0.5/32"}).empty());
  EXPECT_EQ(nic_mismatches(std::nullopt, "cni-x", std::nullopt, allowed),
            std::vector<std::string>{"vnetd has no anti-spoofing nic cni-x-nic"});
  EXPECT_EQ(nic_mismatches(json::parse(R"({"id":"cni-x-nic","type":"hubport"})"), "cni-x", std::nullopt, allowed),
            std::vector<std::string>{"vnetd's netdev cni-x-nic is a hubport, not a nic"});
  auto off = nic;
  off["details"]["anti-spoof"] = false;
  off.erase("peer");
  EXPECT_EQ(nic_mismatches(off, "cni-x", std::nullopt, allowed),
            (std::vector<std::string>{"nic cni-x-nic is peered with nothing, not cni-x",
                                      "anti-spoofing is off on nic cni-x-nic"}));
  EXPECT_EQ(nic_mismatches(nic, "cni-x", std::string("52:54:00:00:00:01"), {"10.1.0.6/32", "10.1.0.5/32"}),
            (std::vector<std::string>{"nic cni-x-nic allows MAC 52:54:00:12:34:56, not 52:54:00:00:00:01",
                                      "nic cni-x-nic does not allow 10.1.0.6/32"}));
}

TEST(AntiSpoofNic, OnlyThisAttachmentsNicIsDeleted) {
  EXPECT_TRUE(is_attachment_nic(json::parse(R"({"id":"cni-x-nic","type":"nic","peer":"cni-x"})"), "cni-x"));
  // Unpeered: vnetd removed the tap with its namespace.
  EXPECT_TRUE(is_attachment_nic(json::parse(R"({"id":"cni-x-nic","type":"nic"})"), "cni-x"));
  EXPECT_FALSE(is_attachment_nic(json::parse(R"({"id":"cni-x-nic","type":"nic","peer":"t9"})"), "cni-x"));
  EXPECT_FALSE(is_attachment_nic(json::parse(R"({"id":"cni-x-nic","type":"hubport"})"), "cni-x"));
}

TEST(AttachmentRecord, ReadFromQueryNetdevs) {
  auto entry = json::parse(R"({"id":"cni-x","type":"tap","link-up":true,"peer":"cni-x-nic","details":{"ifname":"eth0","ifindex":2,
      "netns":"/var/run/netns/blue","mac":"02:00:00:00:00:01","mtu":1400,"queues":2,
      "attachment":{"network":"mynet","container-id":"abc","ifname":"eth0","data":{"args":"A=1"}}}})");
  auto attachment = attachment_from_netdev(entry);
  ASSERT_TRUE(attachment);
  EXPECT_EQ(attachment->id, "cni-x");
  EXPECT_EQ(attachment->key, (AttachmentKey{"mynet", "abc", "eth0"}));
  EXPECT_EQ(attachment->netns, "/var/run/netns/blue");
  EXPECT_EQ(attachment->mac, "02:00:00:00:00:01");
  EXPECT_EQ(attachment->mtu, 1400u);
  EXPECT_EQ(attachment->data["args"], "A=1");
  EXPECT_EQ(attachment->peer, "cni-x-nic");
  // Netdevs that are not attachments.
  EXPECT_FALSE(attachment_from_netdev(json::parse(R"({"id":"h0","type":"hubport","details":{"hubid":0}})")));
  EXPECT_FALSE(attachment_from_netdev(json::parse(R"({"id":"t","details":{"attachment":{"network":"n"}}})")));
  EXPECT_FALSE(attachment_from_netdev(json::parse(R"({"id":"t"})")));
}

ObservedInterface healthy() {
  ObservedInterface seen;
  seen.link = LinkState{7, "02:00:00:00:00:01", 1400, true};
  seen.addresses = {parse_cidr("10.1.0.5/16").value(), parse_cidr("2001:db8::5/64").value()};
  RouteState def;
  def.dst = parse_cidr("0.0.0.0/0").value();
  def.gw = "10.1.0.1";
  def.table = 254;
  def.ifindex = 7;
  RouteState other;
  other.dst = parse_cidr("192.0.2.0/24").value();
  other.table = 254;
  seen.routes = {def, other};
  return seen;
}

SuccessResult prev_result() {
  SuccessResult prev;
  prev.interfaces.push_back({"lo", "", std::nullopt, "/run/netns/x", "", ""});
  prev.interfaces.push_back({"eth0", "02:00:00:00:00:01", 1400, "/run/netns/x", "", ""});
  prev.ips.push_back({"10.1.0.5/16", "10.1.0.1", 1});
  prev.ips.push_back({"2001:db8::5/64", "", 1});
  prev.ips.push_back({"127.0.0.1/8", "", 0});  // another interface's: not ours to check
  prev.routes.push_back({"0.0.0.0/0", "", 0, 0, 0, std::nullopt, std::nullopt});
  prev.routes.push_back({"192.0.2.0/24", "", 0, 0, 0, std::nullopt, std::nullopt});
  return prev;
}

TEST(LinkCheck, PassesWhatMatches) {
  EXPECT_TRUE(check_mismatches(healthy(), prev_result(), 1).empty());
  // MAC text case does not matter (tuning writes what the runtime gave it).
  auto prev = prev_result();
  prev.interfaces[1].mac = "02:00:00:00:00:01";
  EXPECT_TRUE(check_mismatches(healthy(), prev, 1).empty());
}

TEST(LinkCheck, NamesEachDifference) {
  auto seen = healthy();
  seen.link->mac = "02:00:00:00:00:99";
  seen.link->mtu = 1500;
  seen.link->up = false;
  seen.addresses.pop_back();
  seen.routes.pop_back();
  auto prev = prev_result();
  prev.routes.push_back({"0.0.0.0/0", "10.1.0.254", 0, 0, 0, std::nullopt, std::nullopt});
  auto mismatches = check_mismatches(seen, prev, 1);
  ASSERT_EQ(mismatches.size(), 6u) << ::testing::PrintToString(mismatches);
  EXPECT_EQ(mismatches[0], "mac is 02:00:00:00:00:99, prevResult says 02:00:00:00:00:01");
  EXPECT_EQ(mismatches[1], "mtu is 1500, prevResult says 1400");
  EXPECT_EQ(mismatches[2], "the link is down");
  EXPECT_EQ(mismatches[3], "address 2001:db8::5/64 is not on eth0");
  EXPECT_EQ(mismatches[4], "no route to 192.0.2.0/24");
  EXPECT_EQ(mismatches[5], "no route to 0.0.0.0/0 via 10.1.0.254");

  ObservedInterface gone;
  EXPECT_EQ(check_mismatches(gone, prev_result(), 1),
            std::vector<std::string>{"interface eth0 is not in /run/netns/x"});
}

TEST(IpText, CidrKeepsHostBits) {
  auto address = parse_cidr("10.1.0.5/16");
  ASSERT_TRUE(address);
  EXPECT_EQ(format_ip(*address, true), "10.1.0.5/16");
  EXPECT_EQ(format_ip(parse_cidr("2001:DB8:0::5/64").value(), true), "2001:db8::5/64");
  EXPECT_FALSE(parse_cidr("10.1.0.5"));
  EXPECT_FALSE(parse_cidr("10.1.0.5/"));
  EXPECT_FALSE(parse_cidr("10.1.0.5/-1"));
  EXPECT_FALSE(parse_cidr("::1/129"));
  EXPECT_TRUE(same_prefix(parse_cidr("10.1.0.5/16").value(), parse_cidr("10.1.255.0/16").value(), 16));
  EXPECT_FALSE(same_prefix(parse_cidr("10.1.0.5/16").value(), parse_cidr("10.2.0.0/16").value(), 16));
}

}  // namespace
}  // namespace vnet::cni
