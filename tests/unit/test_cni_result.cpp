// vnetctl-cni: ADD's result read and written in every CNI version, as
// libcni's types/100, 040 and 020 convert; the result built from prevResult,
// the tap and the IPAM's answer; VERSION's answer.
#include <gtest/gtest.h>

#include "ctl/cni/attachment_result.h"
#include "ctl/cni/cni_commands.h"
#include "ctl/cni/cni_result.h"

namespace vnet::cni {
namespace {

using json = nlohmann::ordered_json;

// SPEC.md's appendix: what host-local returns for the example network.
const char* kHostLocalAnswer = R"({
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {"nameservers": ["10.1.0.1"]}
})";

// SPEC.md's appendix: the bridge plugin's result (the tuning plugin's prevResult).
const char* kBridgeResult = R"({
    "cniVersion": "1.1.0",
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "veth3243", "mac": "55:44:33:22:11:11"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"}
    ],
    "dns": {"nameservers": ["10.1.0.1"]}
})";

TEST(CniResult, TheSpecsExampleRoundTripsAt110) {
  auto parsed = parse_result(json::parse(kBridgeResult), "1.1.0");
  ASSERT_TRUE(parsed) << parsed.error().msg;
  ASSERT_EQ(parsed->interfaces.size(), 3u);
  EXPECT_EQ(parsed->interfaces[2].sandbox, "/var/run/netns/blue");
  EXPECT_EQ(parsed->ips[0].interface, 2);
  auto written = result_json(*parsed, "1.1.0");
  ASSERT_TRUE(written);
  // The same members and values (their order is the writer's).
  EXPECT_EQ(nlohmann::json::parse(written->dump()), nlohmann::json::parse(kBridgeResult));
}

TEST(CniResult, HostLocalsAnswerWithoutAVersionTakesTheFallback) {
  auto parsed = parse_result(json::parse(kHostLocalAnswer), "1.0.0");
  ASSERT_TRUE(parsed) << parsed.error().msg;
  ASSERT_EQ(parsed->ips.size(), 1u);
  EXPECT_FALSE(parsed->ips[0].interface);
  EXPECT_EQ(parsed->routes[0].dst, "0.0.0.0/0");
  EXPECT_EQ(parsed->dns.nameservers, std::vector<std::string>{"10.1.0.1"});
}

TEST(CniResult, MtuSocketPathAndPciIdOnlyFrom100) {
  SuccessResult result;
  result.interfaces.push_back({"eth0", "02:00:00:00:00:01", 1400, "/run/netns/x", "/run/s.sock", "0000:00:01.0"});
  result.ips.push_back({"10.0.0.2/24", "10.0.0.1", 0});
  result.ips.push_back({"2001:db8::2/64", "", 0});
  result.routes.push_back({"0.0.0.0/0", "10.0.0.1", 1300, 1260, 5, 100, 0});
  auto v110 = result_json(result, "1.1.0").value();
  EXPECT_EQ(v110.dump(),
            R"({"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","mtu":1400,)"
            R"("sandbox":"/run/netns/x","socketPath":"/run/s.sock","pciID":"0000:00:01.0"}],)"
            R"("ips":[{"interface":0,"address":"10.0.0.2/24","gateway":"10.0.0.1"},{"interface":0,"address":"2001:db8::2/64"}],)"
            R"("routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1","mtu":1300,"advmss":1260,"priority":5,"table":100,"scope":0}]})");
  auto v040 = result_json(result, "0.4.0").value();
  EXPECT_EQ(v040.dump(),
            R"({"cniVersion":"0.4.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/run/netns/x"}],)"
            R"("ips":[{"version":"4","interface":0,"address":"10.0.0.2/24","gateway":"10.0.0.1"},)"
            R"({"version":"6","interface":0,"address":"2001:db8::2/64"}],)"
            R"("routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1","mtu":1300,"advmss":1260,"priority":5,"table":100,"scope":0}]})");
  // And back: 0.4.0's "version" is read and dropped.
  auto back = parse_result(v040, "0.4.0");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ips.size(), 2u);
  EXPECT_FALSE(back->interfaces[0].mtu);
}

TEST(CniResult, Version020KeepsTheFirstAddressOfEachFamily) {
  SuccessResult result;
  result.interfaces.push_back({"eth0", "02:00:00:00:00:01", 1400, "/run/netns/x", "", ""});
  result.ips.push_back({"10.0.0.2/24", "10.0.0.1", 0});
  result.ips.push_back({"10.0.1.2/24", "", 0});
  result.ips.push_back({"2001:db8::2/64", "2001:db8::1", 0});
  result.routes.push_back({"0.0.0.0/0", "", 0, 0, 7, std::nullopt, std::nullopt});
  result.routes.push_back({"::/0", "2001:db8::1", 0, 0, 0, std::nullopt, std::nullopt});
  result.dns.nameservers = {"10.0.0.1"};
  auto v020 = result_json(result, "0.2.0").value();
  EXPECT_EQ(v020.dump(),
            R"({"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","gateway":"10.0.0.1","routes":[{"dst":"0.0.0.0/0"}]},)"
            R"("ip6":{"ip":"2001:db8::2/64","gateway":"2001:db8::1","routes":[{"dst":"::/0","gw":"2001:db8::1"}]},)"
            R"("dns":{"nameservers":["10.0.0.1"]}})");
  auto back = parse_result(v020, "0.2.0");
  ASSERT_TRUE(back) << back.error().msg;
  EXPECT_EQ(back->ips.size(), 2u);
  EXPECT_EQ(back->routes.size(), 2u);
  // Without an address there is no 0.2.0 result.
  SuccessResult layer2;
  layer2.interfaces.push_back({"eth0", "", std::nullopt, "/run/netns/x", "", ""});
  auto refused = result_json(layer2, "0.1.0");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, kIncompatibleVersion);
}

TEST(CniResult, RefusesMalformedResults) {
  for (const char* text : {R"({"ips":[{"address":"10.0.0.2"}]})",
                           R"({"ips":[{"address":"10.0.0.2/33"}]})",
                           R"({"ips":[{"address":"10.0.0.2/24","gateway":"ten"}]})",
                           R"({"ips":[{}]})",
                           R"({"routes":[{"gw":"10.0.0.1"}]})",
                           R"({"interfaces":[{"name":3}]})",
                           R"({"interfaces":{}})",
                           R"({"dns":{"nameservers":"10.0.0.1"}})",
                           R"([])"}) {
    auto parsed = parse_result(json::parse(text), "1.0.0");
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, kDecodingFailure) << text;
  }
  EXPECT_EQ(parse_result(json::parse(R"({"cniVersion":"9.9.9"})"), "1.0.0").error().code, kIncompatibleVersion);
}

TEST(AttachmentResult, TheTapAfterPrevResultWithTheIpamsAddresses) {
  auto prev = parse_result(json::parse(kBridgeResult), "1.1.0").value();
  auto ipam = parse_result(json::parse(kHostLocalAnswer), "1.0.0").value();
  Interface tap{"net1", "02:00:00:00:00:07", 1400, "/var/run/netns/blue", "", ""};
  size_t index = 0;
  Dns config_dns;
  auto result = build_add_result(prev, tap, ipam, config_dns, &index);
  EXPECT_EQ(index, 3u);
  ASSERT_EQ(result.interfaces.size(), 4u);
  EXPECT_EQ(result.interfaces[3].name, "net1");
  ASSERT_EQ(result.ips.size(), 2u);
  EXPECT_EQ(result.ips[0].interface, 2);  // prevResult's, untouched
  EXPECT_EQ(result.ips[1].interface, 3);  // the IPAM's, on the tap
  EXPECT_EQ(result.routes.size(), 2u);
  EXPECT_EQ(result.dns.nameservers, std::vector<std::string>{"10.1.0.1"});
  EXPECT_EQ(find_interface(result, "net1", "/var/run/netns/blue"), 3u);
  EXPECT_FALSE(find_interface(result, "net1", "/var/run/netns/red"));

  // First in a chain, no IPAM: the tap alone; the configuration's DNS wins.
  config_dns.nameservers = {"192.0.2.53"};
  auto alone = build_add_result(std::nullopt, tap, std::nullopt, config_dns, &index);
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(alone.interfaces.size(), 1u);
  EXPECT_TRUE(alone.ips.empty());
  EXPECT_EQ(alone.dns.nameservers, std::vector<std::string>{"192.0.2.53"});
}

TEST(CniVersionCommand, ListsEveryVersionInTheVersionAsked) {
  auto answer = version_json(R"({"cniVersion":"0.4.0"})");
  EXPECT_EQ(answer.dump(), R"({"cniVersion":"0.4.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})");
  EXPECT_EQ(version_json("")["cniVersion"], "1.1.0");
  EXPECT_EQ(version_json(R"({"cniVersion":"7.0.0"})")["cniVersion"], "1.1.0");
}

}  // namespace
}  // namespace vnet::cni
