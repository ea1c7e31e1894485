// The vde netdev's vde_open() arguments (QEMU's defaults), vde_open()'s
// errors, and the netmap refusal's two answers.
#include <gtest/gtest.h>

#include <filesystem>

#include "backends/netmap/netmap_support.h"
#include "backends/vde/vde_backend.h"
#include "backends/vde/vde_connection.h"

namespace vnet {
namespace {

TEST(VdeOpenArgs, DefaultsAreQemus) {
  vde::OpenArgs args = vde::open_args(qapi::NetdevVdeOptions{}, "v0");
  EXPECT_EQ(args.url, "");  // libvdeplug's default switch
  EXPECT_EQ(args.port, 0);
  EXPECT_FALSE(args.group);
  EXPECT_EQ(args.mode, 0700u);
  EXPECT_EQ(args.description, "vnetd netdev=v0");
}

TEST(VdeOpenArgs, GivenMembersPassThrough) {
  qapi::NetdevVdeOptions options;
  options.sock = "/run/sw";
  options.port = 7;
  options.group = "kvm";
  options.mode = 0660;
  vde::OpenArgs args = vde::open_args(options, "v1");
  EXPECT_EQ(args.url, "/run/sw");
  EXPECT_EQ(args.port, 7);
  EXPECT_EQ(args.group, "kvm");
  EXPECT_EQ(args.mode, 0660u);
}

// libvdeplug dlopen()s its plugins with RTLD_DEEPBIND, which ASan's runtime
// refuses by ending the process (google/sanitizers#611): a VNET_SANITIZE
// build cannot call vde_open(). These run in the plain build only.
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_WHERE_VDE_OPEN_CANNOT_RUN() GTEST_SKIP() << "vde_open() under ASan: libvdeplug uses RTLD_DEEPBIND"
#else
#define SKIP_WHERE_VDE_OPEN_CANNOT_RUN() static_cast<void>(0)
#endif

TEST(VdeConnection, MissingSwitchGivesVdeOpensErrno) {
  SKIP_WHERE_VDE_OPEN_CANNOT_RUN();
  vde::OpenArgs args;
  args.url = "/nonexistent/vnet-unit-switch";
  args.description = "unit";
  auto opened = vde::VdeConnection::open(args);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().errnum, ENOENT);
  EXPECT_EQ(opened.error().message, "vde_open(\"/nonexistent/vnet-unit-switch\"): No such file or directory");
}

TEST(VdeConnection, DirectoryWithoutASwitchIsRefused) {
  SKIP_WHERE_VDE_OPEN_CANNOT_RUN();
  // A directory that exists but holds no ctl socket: connect() fails.
  auto dir = std::filesystem::temp_directory_path() / ("vnet-unit-vde-" + std::to_string(getpid()));
  std::filesystem::create_directory(dir);
  vde::OpenArgs args;
  args.url = dir.string();
  args.description = "unit";
  auto opened = vde::VdeConnection::open(args);
  EXPECT_FALSE(opened);
  if (!opened) {
    EXPECT_EQ(opened.error().errnum, ENOENT);
  }
  // Nothing left behind in the directory (libvdeplug binds its data socket there).
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(Netmap, MissingDeviceNamesTheModule) {
  Error error = netmap::unsupported("/nonexistent/netmap");
  EXPECT_EQ(error.errnum, ENOENT);
  EXPECT_EQ(error.message,
            "network backend 'netmap' is not available: /nonexistent/netmap does not exist: netmap needs the "
            "out-of-tree netmap kernel module, which stock Linux kernels do not have");
}

TEST(Netmap, PresentDeviceIsStillNotSupported) {
  // Any existing file stands in for a loaded module's /dev/netmap.
  Error error = netmap::unsupported("/dev/null");
  EXPECT_EQ(error.errnum, EOPNOTSUPP);
  EXPECT_EQ(error.message,
            "network backend 'netmap' is not available: /dev/null exists, but this vnetd does not support netmap ports");
}

}  // namespace
}  // namespace vnet
