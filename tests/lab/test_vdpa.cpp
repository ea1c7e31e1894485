// Lab tests: vDPA bring-up through vnetd's vdpa netlink code, against a VDUSE
// virtio-net device served by this test (the lab has no vDPA hardware), and
// `vnetctl -j vdpa ...` against iproute2's `vdpa -j` for the same devices.
#include <fcntl.h>
#include <linux/vdpa.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernel_ifaces/vdpa_genl.h"
#include "kernel_ifaces/vdpa_sysfs.h"
#include "kernel_ifaces/vhost.h"
#include "tests/lab/harness/qmp_client.h"
#include "tests/lab/harness/vduse_device.h"
#include "tests/lab/harness/vnetd_process.h"
#include "kernel_ifaces/vhost_ioctl.h"
#include "tests/lab/harness/vmm_ioctl.h"

namespace vnet::lab {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

#define ASSERT_OK(result) ASSERT_TRUE((result).ok()) << (result).error().message

struct Ran {
  int status = -1;
  std::string out;
};

// Runs a shell command; its stdout and exit status.
Ran run(const std::string& command) {
  Ran ran;
  FILE* pipe = popen((command + " 2>/tmp/lab-vdpa-stderr").c_str(), "r");
  if (!pipe) return ran;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) ran.out.append(buffer, n);
  int status = pclose(pipe);
  ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ran;
}

std::string vnetctl() {
  const char* vnetd = std::getenv("VNETD");
  std::string dir = vnetd ? std::filesystem::path(vnetd).parent_path().string() : "/usr/bin";
  return dir + "/vnetctl";
}

// `vnetctl -j vdpa ARGS` and `vdpa -j ARGS` give the same JSON.
void expect_same_json(const std::string& args) {
  Ran ours = run(vnetctl() + " -j vdpa " + args);
  Ran theirs = run("vdpa -j " + args);
  ASSERT_EQ(ours.status, 0) << "vnetctl -j vdpa " << args;
  ASSERT_EQ(theirs.status, 0) << "vdpa -j " << args;
  json a = json::parse(ours.out, nullptr, false);
  json b = json::parse(theirs.out, nullptr, false);
  ASSERT_FALSE(a.is_discarded()) << ours.out;
  ASSERT_FALSE(b.is_discarded()) << theirs.out;
  EXPECT_EQ(a, b) << "vdpa -j " << args << "\n vnetctl: " << a.dump() << "\n vdpa:    " << b.dump();
}

// Without -j, `vnetctl vdpa ARGS` prints what `vdpa ARGS` prints.
void expect_same_text(const std::string& args) {
  Ran ours = run(vnetctl() + " vdpa " + args);
  Ran theirs = run("vdpa " + args);
  ASSERT_EQ(ours.status, 0) << "vnetctl vdpa " << args;
  ASSERT_EQ(theirs.status, 0) << "vdpa " << args;
  EXPECT_EQ(ours.out, theirs.out) << "vdpa " << args;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

std::string read_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

// The host network device virtio_net made of a vDPA device bound to
// virtio_vdpa (/sys/bus/vdpa/devices/NAME/virtioN/net/IFNAME), waiting for
// the probe; "" when none came.
std::string host_netdev_of(const std::string& device) {
  std::error_code ec;
  for (int i = 0; i < 250; i++) {
    for (const auto& virtio : std::filesystem::directory_iterator("/sys/bus/vdpa/devices/" + device, ec)) {
      if (virtio.path().filename().string().rfind("virtio", 0) != 0) continue;
      for (const auto& net : std::filesystem::directory_iterator(virtio.path() / "net", ec)) {
        return net.path().filename().string();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

class Vdpa : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(exists("/dev/vduse/control")) << "no /dev/vduse/control: run inside the kernel lab (tests/lab/run-lab)";
    auto genl = vdpa::Genl::connect();
    ASSERT_OK(genl);
    genl_.emplace(std::move(*genl));
  }
  std::optional<vdpa::Genl> genl_;
};

TEST_F(Vdpa, MgmtdevListsVduse) {
  auto devs = genl_->mgmtdevs();
  ASSERT_OK(devs);
  bool found = false;
  for (const auto& dev : *devs) {
    if (dev.handle() != "vduse") continue;
    found = true;
    ASSERT_TRUE(dev.classes);
    EXPECT_TRUE(*dev.classes & (1u << 1)) << "vduse offers no net class";
  }
  EXPECT_TRUE(found);
  auto one = genl_->mgmtdevs("vduse");
  ASSERT_OK(one);
  EXPECT_EQ(one->size(), 1u);
  expect_same_json("mgmtdev show");
  expect_same_json("mgmtdev show vduse");
  auto missing = genl_->mgmtdevs("nosuch");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("VDPA_CMD_MGMTDEV_GET of \"nosuch\""), std::string::npos)
      << missing.error().message;
}

TEST_F(Vdpa, DeviceAddShowConfigDriverDelMatchIproute2) {
  VduseNetConfig config;
  config.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0x42};
  config.mtu = 1400;
  config.max_vqp = 1;
  auto vduse = VduseDevice::create("labvdpa0", config);
  ASSERT_OK(vduse);

  vdpa::NewDevice request{"labvdpa0", "vduse", {}, {}, {}};
  ASSERT_OK(genl_->add(request));
  auto again = genl_->add(request);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().errnum, EEXIST) << again.error().message;
  EXPECT_NE(again.error().message.find("VDPA_CMD_DEV_NEW of \"labvdpa0\" on \"vduse\": File exists"),
            std::string::npos)
      << again.error().message;

  auto devs = genl_->devices("labvdpa0");
  ASSERT_OK(devs);
  ASSERT_EQ(devs->size(), 1u);
  EXPECT_EQ((*devs)[0].device_id, 1u);
  EXPECT_EQ((*devs)[0].mgmtdev, "vduse");
  EXPECT_EQ((*devs)[0].max_vqs, 2u);
  auto configs = genl_->configs("labvdpa0");
  ASSERT_OK(configs);
  ASSERT_EQ(configs->size(), 1u);
  const auto& read = (*configs)[0];
  ASSERT_TRUE(read.mac);
  EXPECT_EQ(*read.mac, config.mac);
  EXPECT_EQ(read.mtu, config.mtu);
  // Only a device offering VIRTIO_NET_F_MQ reports max_vqp (VDUSE cannot:
  // MQ needs a control queue, which VDUSE refuses for net).
  if (read.max_vqp) {
    EXPECT_EQ(*read.max_vqp, config.max_vqp);
  }
  ASSERT_TRUE(read.status);
  EXPECT_TRUE(*read.status & 1) << "link not up";

  expect_same_json("dev show");
  expect_same_json("dev show labvdpa0");
  expect_same_json("dev config show");
  expect_same_json("dev config show labvdpa0");
  expect_same_json("mgmtdev show");
  for (const char* args : {"mgmtdev show", "dev show", "dev config show labvdpa0"}) expect_same_text(args);

  // Bound to vhost_vdpa: a vhost-vdpa node whose device is a net device.
  auto driver = vdpa::bound_driver("labvdpa0");
  ASSERT_OK(driver);
  EXPECT_EQ(*driver, "vhost_vdpa");
  auto node = vdpa::vhost_vdpa_node("labvdpa0");
  ASSERT_OK(node);
  {
    int fd = open(node->c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << *node;
    auto device_id = vhost::vdpa_device_id(fd);
    ASSERT_OK(device_id);
    EXPECT_EQ(*device_id, 1u);
    close(fd);
  }
  Ran shown = run(vnetctl() + " -j vdpa dev driver show labvdpa0");
  EXPECT_EQ(shown.status, 0);
  EXPECT_EQ(json::parse(shown.out, nullptr, false), json::parse(R"({"driver":{"labvdpa0":"vhost_vdpa"}})"));

  // To virtio_vdpa and back. Under virtio_vdpa, virtio_net drives it as a
  // host NIC: the features it negotiated appear in config show.
  ASSERT_TRUE(exists("/sys/bus/vdpa/drivers/virtio_vdpa"))
      << "the virtio_vdpa driver is not loaded: it belongs in tests/lab/modules";
  ASSERT_OK(vdpa::bind_driver("labvdpa0", "virtio_vdpa"));
  EXPECT_EQ(vdpa::bound_driver("labvdpa0").value(), "virtio_vdpa");
  EXPECT_FALSE(vdpa::vhost_vdpa_node("labvdpa0").ok());
  std::string netdev = host_netdev_of("labvdpa0");
  ASSERT_FALSE(netdev.empty()) << "virtio_net made no network device of labvdpa0 under virtio_vdpa";
  EXPECT_EQ(read_line("/sys/class/net/" + netdev + "/address"), "52:54:00:ab:cd:42");
  EXPECT_EQ(read_line("/sys/class/net/" + netdev + "/mtu"), "1400");
  auto negotiated = genl_->configs("labvdpa0");
  ASSERT_OK(negotiated);
  ASSERT_EQ(negotiated->size(), 1u);
  ASSERT_TRUE((*negotiated)[0].negotiated_features) << "no negotiated features with virtio_net as the driver";
  uint64_t features = *(*negotiated)[0].negotiated_features;
  EXPECT_TRUE(features & (1ull << 32)) << "VERSION_1 not negotiated";
  EXPECT_TRUE(features & (1ull << 5)) << "MAC not negotiated";
  EXPECT_EQ(features & ~vduse.value()->features(), 0u) << "negotiated what the device does not offer";
  expect_same_json("dev config show labvdpa0");
  expect_same_json("dev config show");
  expect_same_text("dev config show labvdpa0");
  ASSERT_EQ(run(vnetctl() + " vdpa dev driver set labvdpa0 vhost_vdpa").status, 0);
  EXPECT_EQ(vdpa::bound_driver("labvdpa0").value(), "vhost_vdpa");
  EXPECT_FALSE(vdpa::bind_driver("labvdpa0", "nosuch_driver").ok());

  // vstats: VDUSE keeps none. vnetctl fails saying so (iproute2 6.1's vdpa
  // prints the kernel's error but exits 0).
  auto stats = genl_->vstats("labvdpa0", 0);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().errnum, EOPNOTSUPP) << stats.error().message;
  EXPECT_NE(run(vnetctl() + " vdpa dev vstats show labvdpa0 qidx 0").status, 0);

  ASSERT_EQ(run(vnetctl() + " vdpa dev del labvdpa0").status, 0);
  auto gone = genl_->devices();
  ASSERT_OK(gone);
  for (const auto& dev : *gone) EXPECT_NE(dev.name, "labvdpa0");
  expect_same_json("dev show");
  EXPECT_GT(vduse.value()->requests_served(), 0) << "the kernel asked the VDUSE device nothing";
}

// The vhost-vdpa netdev: vnetd opens and checks the device, never owns its
// rings, and hands the fd over; the test, as the VMM, becomes the owner.
TEST_F(Vdpa, VhostVdpaNetdevChecksAndHandsOverTheDevice) {
  VduseNetConfig config;
  config.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0x77};
  auto vduse = VduseDevice::create("labvdpa2", config);
  ASSERT_OK(vduse);
  ASSERT_OK(genl_->add({"labvdpa2", "vduse", {}, {}, {}}));
  auto node = vdpa::vhost_vdpa_node("labvdpa2");
  ASSERT_OK(node);

  auto vnetd = VnetdProcess::start();
  ASSERT_OK(vnetd);
  auto qmp = QmpClient::connect(vnetd->socket_path());
  ASSERT_OK(qmp);
  auto too_many = qmp->execute("netdev_add", {{"type", "vhost-vdpa"}, {"id", "vd0"}, {"vhostdev", *node}, {"queues", 2}});
  ASSERT_OK(too_many);
  ASSERT_FALSE(too_many->ok());
  EXPECT_NE(too_many->message.dump().find("queues=2 but"), std::string::npos) << too_many->message.dump();
  auto added = qmp->execute("netdev_add", {{"type", "vhost-vdpa"}, {"id", "vd0"}, {"vhostdev", *node}});
  ASSERT_OK(added);
  ASSERT_TRUE(added->ok()) << added->message.dump();
  auto netdevs = qmp->execute("query-netdevs");
  ASSERT_OK(netdevs);
  nlohmann::json details = netdevs->value()[0]["details"];
  EXPECT_EQ(details["mac"], "52:54:00:ab:cd:77") << details.dump();
  EXPECT_EQ(details["max-queue-pairs"], 1);
  EXPECT_TRUE(details["features"].get<uint64_t>() & (1ull << 32)) << "no VIRTIO_F_VERSION_1: " << details.dump();

  auto got = qmp->execute("netdev-get-fds", {{"id", "vd0"}});
  ASSERT_OK(got);
  ASSERT_TRUE(got->ok()) << got->message.dump();
  EXPECT_EQ(got->value(), nlohmann::json::parse(R"({"fds":[{"role":"vhost-vdpa","queue":0}]})"));
  ASSERT_EQ(got->fds.size(), 1u);
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(got->fds[0].get()), ec), *node);
  EXPECT_EQ(vnet_vhost_set_owner(got->fds[0].get()), 0) << "vnetd must not own the rings";
  got->fds.clear();

  auto deleted = qmp->execute("netdev_del", {{"id", "vd0"}});
  ASSERT_OK(deleted);
  EXPECT_TRUE(deleted->ok());
  int held = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(vnetd->pid()) + "/fd", ec)) {
    if (std::filesystem::read_symlink(entry.path(), ec) == *node) held++;
  }
  EXPECT_EQ(held, 0) << "vnetd still holds " << *node;
  ASSERT_OK(genl_->remove("labvdpa2"));
}

// --config's vdpa rules: vnetd adds a device on the matching management
// device at start and binds it to the rule's driver, and binds it back when
// a udev event says it moved.
TEST_F(Vdpa, ConfigRulesAddAndBindDevices) {
  VduseNetConfig config;
  auto vduse = VduseDevice::create("labrule0", config);
  ASSERT_OK(vduse);
  std::string path = "/tmp/lab-vdpa-rules.toml";
  {
    FILE* file = std::fopen(path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("[[rule]]\n"
               "match = { subsystem = \"vdpa\", mgmtdev = \"vdu*\" }\n"
               "vdpa = { name = \"labrule0\" }\n"
               "driver = \"virtio_vdpa\"\n",
               file);
    std::fclose(file);
  }
  ASSERT_EQ(run(vnetctl() + " config check " + path).status, 0);
  auto vnetd = VnetdProcess::start(path);
  ASSERT_OK(vnetd);
  auto devs = genl_->devices("labrule0");
  ASSERT_OK(devs);
  ASSERT_EQ(devs->size(), 1u) << "the rule added no device at start";
  EXPECT_EQ((*devs)[0].mgmtdev, "vduse");
  EXPECT_EQ(vdpa::bound_driver("labrule0").value(), "virtio_vdpa");

  // Someone moves it; the udev event brings the rule back into force.
  ASSERT_OK(vdpa::bind_driver("labrule0", "vhost_vdpa"));
  auto qmp = QmpClient::connect(vnetd->socket_path());
  ASSERT_OK(qmp);
  auto event = qmp->execute("udev-event", {{"action", "bind"}, {"subsystem", "vdpa"},
                                           {"devpath", "/devices/virtual/vduse/labrule0/labrule0"}});
  ASSERT_OK(event);
  ASSERT_TRUE(event->ok()) << event->message.dump();
  bool rebound = false;
  for (int i = 0; i < 100 && !rebound; i++) {
    rebound = vdpa::bound_driver("labrule0").value() == "virtio_vdpa";
    if (!rebound) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(rebound) << "the rule did not bind labrule0 back to virtio_vdpa";
  ASSERT_OK(genl_->remove("labrule0"));
}

// The self-test: vnetd drives the device's rings (vdpa-selftest), and the
// VDUSE device loops each frame back. Then the same through the CLI, a
// device that does not loop back, one bound to virtio_vdpa, and the device
// still usable by a VMM afterwards.
TEST_F(Vdpa, SelftestDrivesTheRingsFromVnetd) {
  VduseNetConfig config;
  config.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0x51};
  auto vduse = VduseDevice::create("labvdpa5", config);
  ASSERT_OK(vduse);
  ASSERT_OK(genl_->add({"labvdpa5", "vduse", {}, {}, {}}));
  auto node = vdpa::vhost_vdpa_node("labvdpa5");
  ASSERT_OK(node);
  auto vnetd = VnetdProcess::start();
  ASSERT_OK(vnetd);
  auto qmp = QmpClient::connect(vnetd->socket_path());
  ASSERT_OK(qmp);

  auto result = qmp->execute("vdpa-selftest", {{"dev", "labvdpa5"}, {"frames", 16}});
  ASSERT_OK(result);
  ASSERT_TRUE(result->ok()) << result->message.dump();
  nlohmann::json expected = nlohmann::json::parse(R"({"dev":"labvdpa5","vhost-dev":")" + *node +
                              R"(","passed":true,"queue-pairs":[{"queue-pair":0,"sent":16,"received":16,"matched":16}]})");
  EXPECT_EQ(result->value(), expected) << result->message.dump();
  EXPECT_EQ((*vduse)->frames_looped(), 16);

  // The CLI, twice: the device is reset after each run and works again.
  for (int round = 0; round < 2; round++) {
    Ran cli = run(vnetctl() + " -s " + vnetd->socket_path() + " vdpa selftest labvdpa5 frames 4");
    EXPECT_EQ(cli.status, 0) << cli.out;
    EXPECT_NE(cli.out.find("labvdpa5 queue pair 0: sent 4 received 4 matched 4 ok"), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("self-test passed"), std::string::npos) << cli.out;
  }
  // A VMM can still take the device.
  auto added = qmp->execute("netdev_add", {{"type", "vhost-vdpa"}, {"id", "vd5"}, {"vhostdev", *node}});
  ASSERT_OK(added);
  EXPECT_TRUE(added->ok()) << added->message.dump();
  auto got = qmp->execute("netdev-get-fds", {{"id", "vd5"}});
  ASSERT_OK(got);
  ASSERT_EQ(got->fds.size(), 1u);
  EXPECT_EQ(vnet_vhost_set_owner(got->fds[0].get()), 0) << "the self-test left the device owned";
  // ... and while it is owned, the self-test says so and changes nothing.
  auto busy = qmp->execute("vdpa-selftest", {{"dev", "labvdpa5"}});
  ASSERT_OK(busy);
  ASSERT_FALSE(busy->ok());
  EXPECT_NE(busy->error_desc().find("in use"), std::string::npos) << busy->message.dump();
  got->fds.clear();
  ASSERT_OK(qmp->execute("netdev_del", {{"id", "vd5"}}));

  // Bound to virtio_vdpa: refused, saying how to rebind.
  ASSERT_OK(vdpa::bind_driver("labvdpa5", "virtio_vdpa"));
  auto wrong_driver = qmp->execute("vdpa-selftest", {{"dev", "labvdpa5"}});
  ASSERT_OK(wrong_driver);
  ASSERT_FALSE(wrong_driver->ok());
  EXPECT_NE(wrong_driver->error_desc().find("is bound to driver 'virtio_vdpa', not vhost_vdpa: bind it with "
                                            "`vnetctl vdpa dev driver set labvdpa5 vhost_vdpa`"),
            std::string::npos)
      << wrong_driver->message.dump();
  ASSERT_OK(vdpa::bind_driver("labvdpa5", "vhost_vdpa"));
  auto unknown = qmp->execute("vdpa-selftest", {{"dev", "nosuchvdpa"}});
  ASSERT_OK(unknown);
  EXPECT_FALSE(unknown->ok());
  ASSERT_OK(genl_->remove("labvdpa5"));
}

TEST_F(Vdpa, SelftestFailsClearlyWhenNothingComesBack) {
  VduseNetConfig config;
  config.echo = false;
  auto vduse = VduseDevice::create("labvdpa6", config);
  ASSERT_OK(vduse);
  ASSERT_OK(genl_->add({"labvdpa6", "vduse", {}, {}, {}}));
  auto vnetd = VnetdProcess::start();
  ASSERT_OK(vnetd);
  Ran cli = run(vnetctl() + " -s " + vnetd->socket_path() + " vdpa selftest labvdpa6 frames 3 timeout 300");
  EXPECT_EQ(cli.status, 1) << cli.out;
  EXPECT_NE(cli.out.find("labvdpa6 queue pair 0: sent 3 received 0 matched 0 FAILED: 3 of 3 frames did not come back "
                         "within 300 ms"),
            std::string::npos)
      << cli.out;
  EXPECT_NE(cli.out.find("self-test FAILED"), std::string::npos) << cli.out;
  Ran json_out = run(vnetctl() + " -j -s " + vnetd->socket_path() + " vdpa selftest labvdpa6 frames 2 timeout 200");
  EXPECT_EQ(json_out.status, 1);
  json parsed = json::parse(json_out.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json_out.out;
  EXPECT_EQ(parsed["passed"], false);
  EXPECT_EQ(parsed["queue-pairs"][0]["received"], 0);
  ASSERT_OK(genl_->remove("labvdpa6"));
}

TEST_F(Vdpa, BadRequestsAreClearErrors) {
  // The kernel's errno and its extended-ack reason reach the message.
  auto unknown = genl_->add({"labvdpa9", "nosuch", {}, {}, {}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().errnum, ENODEV) << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("VDPA_CMD_DEV_NEW of \"labvdpa9\" on \"nosuch\": No such device ("),
            std::string::npos)
      << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("management device"), std::string::npos) << unknown.error().message;
  auto no_device = genl_->remove("nosuchdev");
  ASSERT_FALSE(no_device.ok());
  EXPECT_EQ(no_device.error().errnum, ENODEV) << no_device.error().message;
  EXPECT_NE(no_device.error().message.find("device not found"), std::string::npos) << no_device.error().message;
  auto no_show = genl_->devices("nosuchdev");
  ASSERT_FALSE(no_show.ok());
  EXPECT_EQ(no_show.error().errnum, ENODEV) << no_show.error().message;

  VduseNetConfig config;
  auto vduse = VduseDevice::create("labvdpa1", config);
  ASSERT_OK(vduse);
  // mac, mtu and max_vqp arrive as the kernel's net config attributes: an MTU
  // under the policy's minimum (ETH_MIN_MTU, 68) fails validation with
  // ERANGE, and valid ones are refused by VDUSE's management device, which
  // takes its config from VDUSE_CREATE_DEV and accepts none at dev add.
  vdpa::NewDevice tiny{"labvdpa1", "vduse", {}, uint16_t{10}, {}};
  auto invalid = genl_->add(tiny);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().errnum, ERANGE) << invalid.error().message;
  EXPECT_NE(invalid.error().message.find("out of range"), std::string::npos) << invalid.error().message;
  vdpa::NewDevice configured{"labvdpa1", "vduse", vdpa::Mac{0x02, 0, 0, 0, 0, 1}, uint16_t{1500}, uint16_t{1}};
  auto refused = genl_->add(configured);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().errnum, EOPNOTSUPP) << refused.error().message;
  // The kernel names what it got: one bit per attribute, all three ours.
  char mask[32];
  std::snprintf(mask, sizeof mask, "not supported: 0x%llx",
                (1ull << VDPA_ATTR_DEV_NET_CFG_MACADDR) | (1ull << VDPA_ATTR_DEV_NET_CFG_MAX_VQP) |
                    (1ull << VDPA_ATTR_DEV_NET_CFG_MTU));
  EXPECT_NE(refused.error().message.find(mask), std::string::npos) << refused.error().message;
  std::printf("kernel_ifaces errors: %s | %s | %s\n", unknown.error().message.c_str(),
              invalid.error().message.c_str(), refused.error().message.c_str());
  // vnetctl and iproute2 agree on the same request.
  auto with_mac = run(vnetctl() + " vdpa dev add name labvdpa1 mgmtdev vduse mac 02:00:00:00:00:01 mtu 1500 max_vqp 1");
  auto theirs = run("vdpa dev add name labvdpa1 mgmtdev vduse mac 02:00:00:00:00:01 mtu 1500 max_vqp 1");
  EXPECT_EQ(with_mac.status == 0, theirs.status == 0) << "vnetctl and vdpa disagree on dev add with mac/mtu/max_vqp";
  if (with_mac.status == 0 || theirs.status == 0) (void)genl_->remove("labvdpa1");
  EXPECT_NE(run(vnetctl() + " vdpa dev add name x mgmtdev vduse mac 02:00:00:00:00").status, 0);
  EXPECT_NE(run(vnetctl() + " vdpa dev add name x mgmtdev vduse max_vqp 0").status, 0);
  EXPECT_NE(run(vnetctl() + " vdpa dev del nosuchdev").status, 0);
  EXPECT_NE(read_line("/tmp/lab-vdpa-stderr").find("No such device"), std::string::npos)
      << "vnetctl's stderr: " << read_line("/tmp/lab-vdpa-stderr");
}

}  // namespace
}  // namespace vnet::lab
