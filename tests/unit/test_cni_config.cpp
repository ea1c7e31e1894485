// vnetctl-cni: the CNI_* environment and the request configuration, parsed
// and refused with the spec's codes (SPEC.md, "Parameters" and "Error").
#include <gtest/gtest.h>

#include "ctl/cni/cni_config.h"
#include "ctl/cni/cni_version.h"

namespace vnet::cni {
namespace {

std::map<std::string, std::string> add_env() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "abc-123.x_y"},
          {"CNI_NETNS", "/var/run/netns/blue"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin:/usr/lib/cni"}};
}

TEST(CniEnv, ParsesAnAdd) {
  auto env = parse_env(add_env());
  ASSERT_TRUE(env) << env.error().msg;
  EXPECT_EQ(env->command, Command::add);
  EXPECT_EQ(env->container_id, "abc-123.x_y");
  EXPECT_EQ(env->netns, "/var/run/netns/blue");
  EXPECT_EQ(env->ifname, "eth0");
  EXPECT_EQ(env->path, "/opt/cni/bin:/usr/lib/cni");
}

TEST(CniEnv, NamesEveryMissingVariable) {
  auto env = parse_env({{"CNI_COMMAND", "ADD"}, {"CNI_NETNS", ""}});
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().code, kInvalidEnvironment);
  EXPECT_EQ(env.error().msg, "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing");
  auto none = parse_env({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().msg, "required env variables [CNI_COMMAND] missing");
}

TEST(CniEnv, DelNeedsNoNamespaceGcNeedsThePathVersionNothing) {
  auto del = parse_env({{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "c1"}, {"CNI_IFNAME", "eth0"}});
  ASSERT_TRUE(del) << del.error().msg;
  EXPECT_TRUE(del->netns.empty());
  auto gc = parse_env({{"CNI_COMMAND", "GC"}});
  ASSERT_FALSE(gc);
  EXPECT_EQ(gc.error().msg, "required env variables [CNI_PATH] missing");
  EXPECT_TRUE(parse_env({{"CNI_COMMAND", "VERSION"}}));
  EXPECT_TRUE(parse_env({{"CNI_COMMAND", "STATUS"}}));
}

TEST(CniEnv, RefusesMalformedValues) {
  auto vars = add_env();
  vars["CNI_COMMAND"] = "ATTACH";
  EXPECT_EQ(parse_env(vars).error().msg, "unknown CNI_COMMAND: ATTACH");
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"CNI_CONTAINERID", "-leading-dash"},
           {"CNI_CONTAINERID", "has space"},
           {"CNI_IFNAME", "sixteen-bytes-xx"},
           {"CNI_IFNAME", "a/b"},
           {"CNI_IFNAME", "a:b"},
           {"CNI_IFNAME", ".."},
           {"CNI_NETNS", "relative/path"},
           {"CNI_ARGS", "K8S_POD_NAME"}}) {
    auto changed = add_env();
    changed[name] = value;
    auto env = parse_env(changed);
    ASSERT_FALSE(env) << name << "=" << value;
    EXPECT_EQ(env.error().code, kInvalidEnvironment) << name << "=" << value;
  }
  auto vars16 = add_env();
  vars16["CNI_IFNAME"] = "fifteen-bytes-x";
  EXPECT_TRUE(parse_env(vars16));
}

TEST(CniEnv, CniArgsPairs) {
  auto args = parse_cni_args("IgnoreUnknown=1;K8S_POD_NAME=web-0;MAC=02:00:00:00:00:09;;EMPTY=");
  ASSERT_TRUE(args);
  ASSERT_EQ(args->size(), 4u);
  EXPECT_EQ((*args)[1], (std::pair<std::string, std::string>{"K8S_POD_NAME", "web-0"}));
  EXPECT_EQ((*args)[3], (std::pair<std::string, std::string>{"EMPTY", ""}));
  EXPECT_TRUE(parse_cni_args("")->empty());
  EXPECT_FALSE(parse_cni_args("=x"));
}

TEST(CniConfig, ReadsEveryKey) {
  auto conf = parse_config(R"({"cniVersion":"1.1.0","name":"mynet","type":"vnetctl-cni",
      "socket":"/run/v/q.sock","queues":4,"mtu":1400,"mac":"02:AA:bb:00:00:01","owner":107,"group":107,
      "vhost":true,"ipam":{"type":"host-local","subnet":"10.1.0.0/16"},"dns":{"nameservers":["10.1.0.1"]},
      "runtimeConfig":{"mac":"02:00:00:00:00:05"},"args":{"cni":{"labels":[]}}})",
                           Command::add);
  ASSERT_TRUE(conf) << conf.error().msg << " " << conf.error().details;
  EXPECT_EQ(conf->cni_version, "1.1.0");
  EXPECT_EQ(conf->name, "mynet");
  EXPECT_EQ(conf->socket, "/run/v/q.sock");
  EXPECT_EQ(conf->queues, 4u);
  EXPECT_EQ(conf->mtu, 1400u);
  EXPECT_EQ(conf->mac, "02:aa:bb:00:00:01");
  EXPECT_EQ(conf->owner, 107u);
  EXPECT_EQ(conf->group, 107u);
  EXPECT_EQ(conf->vhost, true);
  EXPECT_EQ(conf->ipam_type, "host-local");
  EXPECT_EQ(conf->dns["nameservers"][0], "10.1.0.1");
  EXPECT_TRUE(conf->prev_result.is_null());
}

TEST(CniConfig, DefaultsWhenKeysAreAbsent) {
  auto conf = parse_config(R"({"name":"n","type":"vnetctl-cni"})", Command::add);
  ASSERT_TRUE(conf);
  EXPECT_EQ(conf->cni_version, "0.1.0");  // libcni's reading of a missing cniVersion
  EXPECT_EQ(conf->socket, "/run/vnetctl/qmp.sock");
  EXPECT_FALSE(conf->queues || conf->mtu || conf->mac || conf->owner || conf->group || conf->vhost);
  EXPECT_TRUE(conf->ipam_type.empty());
  auto empty_ipam = parse_config(R"({"cniVersion":"1.0.0","name":"n","type":"t","ipam":{}})", Command::add);
  ASSERT_TRUE(empty_ipam);
  EXPECT_TRUE(empty_ipam->ipam_type.empty());
}

struct Refusal {
  const char* config;
  unsigned code;
  const char* msg_contains;
};

TEST(CniConfig, RefusesWithTheSpecsCodes) {
  for (const auto& refusal : std::vector<Refusal>{
           {"not json", kDecodingFailure, "not JSON"},
           {"[1]", kDecodingFailure, "not a JSON object"},
           {R"({"cniVersion":"2.0.0","name":"n"})", kIncompatibleVersion, "incompatible CNI versions"},
           {R"({"cniVersion":"1.1.0"})", kInvalidConfig, "missing network name"},
           {R"({"cniVersion":"1.1.0","name":"bad name"})", kInvalidConfig, "invalid characters"},
           {R"({"cniVersion":"1.1.0","name":"n","queue":2})", kUnsupportedField, "\"queue\": 2"},
           {R"({"cniVersion":"1.1.0","name":"n","ipMasq":true})", kUnsupportedField, "\"ipMasq\": true"},
           {R"({"cniVersion":"1.1.0","name":"n","queues":0})", kInvalidConfig, "\"queues\": 0"},
           {R"({"cniVersion":"1.1.0","name":"n","queues":257})", kInvalidConfig, "\"queues\": 257"},
           {R"({"cniVersion":"1.1.0","name":"n","queues":"2"})", kInvalidConfig, "\"queues\""},
           {R"({"cniVersion":"1.1.0","name":"n","queues":2.5})", kInvalidConfig, "\"queues\""},
           {R"({"cniVersion":"1.1.0","name":"n","mtu":67})", kInvalidConfig, "\"mtu\": 67"},
           {R"({"cniVersion":"1.1.0","name":"n","mtu":65536})", kInvalidConfig, "\"mtu\""},
           {R"({"cniVersion":"1.1.0","name":"n","owner":-1})", kInvalidConfig, "\"owner\": -1"},
           {R"({"cniVersion":"1.1.0","name":"n","group":4294967295})", kInvalidConfig, "\"group\""},
           {R"({"cniVersion":"1.1.0","name":"n","vhost":"yes"})", kInvalidConfig, "\"vhost\""},
           {R"({"cniVersion":"1.1.0","name":"n","mac":"01:00:00:00:00:01"})", kInvalidConfig, "\"mac\""},
           {R"({"cniVersion":"1.1.0","name":"n","mac":"00:00:00:00:00:00"})", kInvalidConfig, "\"mac\""},
           {R"({"cniVersion":"1.1.0","name":"n","mac":"02:00:00:00:00"})", kInvalidConfig, "\"mac\""},
           {R"({"cniVersion":"1.1.0","name":"n","socket":"relative.sock"})", kInvalidConfig, "\"socket\""},
           {R"({"cniVersion":"1.1.0","name":"n","ipam":{"subnet":"10.0.0.0/8"}})", kInvalidConfig, "\"ipam\""},
           {R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"../evil"}})", kInvalidConfig, "\"ipam\""},
           {R"({"cniVersion":"1.1.0","name":"n","prevResult":[]})", kDecodingFailure, "prevResult"}}) {
    auto conf = parse_config(refusal.config, Command::add);
    ASSERT_FALSE(conf) << refusal.config;
    EXPECT_EQ(conf.error().code, refusal.code) << refusal.config << ": " << conf.error().msg;
    EXPECT_NE(conf.error().msg.find(refusal.msg_contains), std::string::npos)
        << refusal.config << ": " << conf.error().msg;
  }
}

TEST(CniConfig, CheckGcAndStatusNeedTheirVersions) {
  EXPECT_EQ(parse_config(R"({"cniVersion":"0.3.1","name":"n"})", Command::check).error().code, kIncompatibleVersion);
  EXPECT_TRUE(parse_config(R"({"cniVersion":"0.4.0","name":"n"})", Command::check));
  EXPECT_EQ(parse_config(R"({"cniVersion":"1.0.0","name":"n"})", Command::gc).error().code, kIncompatibleVersion);
  EXPECT_EQ(parse_config(R"({"cniVersion":"1.0.0","name":"n"})", Command::status).error().code, kIncompatibleVersion);
  EXPECT_TRUE(parse_config(R"({"cniVersion":"1.1.0","name":"n"})", Command::status));
}

TEST(CniConfig, GcReadsTheValidAttachments) {
  auto conf = parse_config(R"({"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":
      [{"containerID":"c1","ifname":"eth0"},{"containerID":"c2","ifname":"net1"}]})",
                           Command::gc);
  ASSERT_TRUE(conf) << conf.error().msg;
  ASSERT_TRUE(conf->valid_attachments);
  ASSERT_EQ(conf->valid_attachments->size(), 2u);
  EXPECT_EQ((*conf->valid_attachments)[1], (AttachmentRef{"c2", "net1"}));
  // libcni also sends the misspelt key of spec issue #1101.
  auto old = parse_config(R"({"cniVersion":"1.1.0","name":"n","cni.dev/attachments":[]})", Command::gc);
  ASSERT_TRUE(old);
  EXPECT_TRUE(old->valid_attachments && old->valid_attachments->empty());
  auto missing = parse_config(R"({"cniVersion":"1.1.0","name":"n"})", Command::gc);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->valid_attachments);
  EXPECT_FALSE(parse_config(R"({"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"ifname":"x"}]})",
                            Command::gc));
}

TEST(CniConfig, RecordsOpenByNameAndAntiSpoof) {
  auto conf = parse_config(R"({"cniVersion":"1.1.0","name":"n","dataDir":"/srv/cni/records","owner":107,
      "open-by-name":true,"anti-spoof":true,"guest-mac":"52:54:00:AB:CD:EF","ipam":{"type":"host-local"}})",
                           Command::add);
  ASSERT_TRUE(conf) << conf.error().msg << " " << conf.error().details;
  EXPECT_EQ(conf->data_dir, "/srv/cni/records");
  EXPECT_TRUE(conf->open_by_name);
  EXPECT_TRUE(conf->anti_spoof);
  EXPECT_EQ(conf->guest_mac, "52:54:00:ab:cd:ef");
  auto defaults = parse_config(R"({"cniVersion":"1.1.0","name":"n"})", Command::add);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->data_dir, "/var/lib/cni/vnetctl-cni");
  EXPECT_FALSE(defaults->open_by_name || defaults->anti_spoof || defaults->guest_mac);
  // group alone is enough for open-by-name.
  EXPECT_TRUE(parse_config(R"({"cniVersion":"1.1.0","name":"n","group":0,"open-by-name":true})", Command::add));

  for (const auto& refusal : std::vector<Refusal>{
           {R"({"cniVersion":"1.1.0","name":"n","dataDir":"var/lib"})", kInvalidConfig, "\"dataDir\""},
           {R"({"cniVersion":"1.1.0","name":"n","dataDir":"/"})", kInvalidConfig, "\"dataDir\""},
           {R"({"cniVersion":"1.1.0","name":"n","dataDir":7})", kInvalidConfig, "\"dataDir\""},
           {R"({"cniVersion":"1.1.0","name":"n","open-by-name":"yes","owner":1})", kInvalidConfig, "\"open-by-name\""},
           {R"({"cniVersion":"1.1.0","name":"n","open-by-name":true})", kInvalidConfig, "\"open-by-name\": true"},
           {R"({"cniVersion":"1.1.0","name":"n","open-by-name":true,"owner":1,"vhost":true})", kInvalidConfig,
            "\"open-by-name\""},
           {R"({"cniVersion":"1.1.0","name":"n","anti-spoof":true})", kInvalidConfig, "\"anti-spoof\": true"},
           {R"({"cniVersion":"1.1.0","name":"n","anti-spoof":1,"ipam":{"type":"h"}})", kInvalidConfig,
            "\"anti-spoof\""},
           {R"({"cniVersion":"1.1.0","name":"n","guest-mac":"52:54:00:00:00:01","ipam":{"type":"h"}})",
            kInvalidConfig, "\"guest-mac\""},
           {R"({"cniVersion":"1.1.0","name":"n","anti-spoof":true,"guest-mac":"33:33:00:00:00:01","ipam":{"type":"h"}})",
            kInvalidConfig, "\"guest-mac\""},
           {R"({"cniVersion":"1.1.0","name":"n","datadir":"/x"})", kUnsupportedField, "\"datadir\""}}) {
    auto refused = parse_config(refusal.config, Command::add);
    ASSERT_FALSE(refused) << refusal.config;
    EXPECT_EQ(refused.error().code, refusal.code) << refusal.config << ": " << refused.error().msg;
    EXPECT_NE(refused.error().msg.find(refusal.msg_contains), std::string::npos)
        << refusal.config << ": " << refused.error().msg;
  }
}

TEST(CniConfig, MacFromRuntimeConfigThenCniArgsThenConfig) {
  auto conf = parse_config(R"({"cniVersion":"1.1.0","name":"n","mac":"02:00:00:00:00:01"})", Command::add);
  ASSERT_TRUE(conf);
  CniEnv env;
  EXPECT_EQ(effective_mac(*conf, env).value(), "02:00:00:00:00:01");
  env.args = "IgnoreUnknown=1;MAC=02:00:00:00:00:02";
  EXPECT_EQ(effective_mac(*conf, env).value(), "02:00:00:00:00:02");
  conf->runtime_config = {{"mac", "02:00:00:00:00:03"}};
  EXPECT_EQ(effective_mac(*conf, env).value(), "02:00:00:00:00:03");
  conf->runtime_config = {{"mac", "ff:ff:ff:ff:ff:ff"}};
  EXPECT_EQ(effective_mac(*conf, env).error().code, kInvalidConfig);
  conf->runtime_config = nullptr;
  env.args = "MAC=zz";
  EXPECT_EQ(effective_mac(*conf, env).error().code, kInvalidEnvironment);
}

TEST(CniVersion, ComparesAndLists) {
  EXPECT_TRUE(at_least("1.1.0", "1.0.0"));
  EXPECT_TRUE(at_least("0.4.0", "0.3.10"));
  EXPECT_FALSE(at_least("0.3.2", "0.3.10"));  // numbers, not text
  EXPECT_TRUE(at_least("0.10.0", "0.4.0"));
  EXPECT_FALSE(at_least("x", "0.1.0"));
  EXPECT_FALSE(compare_versions("1.0", "1.0.0"));
  EXPECT_EQ(supported_versions_text(), "[0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]");
  EXPECT_TRUE(version_supported("0.3.1"));
  EXPECT_FALSE(version_supported("0.3.2"));
}

}  // namespace
}  // namespace vnet::cni
