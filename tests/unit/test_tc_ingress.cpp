// TcIngressFilter on a real tap, in private network and mount namespaces
// (a bpffs of the test's own for the link pins): tcx where the kernel has
// it, the pinned link reused across a "restart", an older vnetd's cls_bpf
// filter replaced, a defunct link after the tap is re-created, detach.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "ebpf/tc_ingress.h"
#include "kernel_ifaces/bpffs.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/tun.h"

namespace vnet::ebpf {
namespace {

constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS (Linux 6.6), as in tc_ingress.cpp

UniqueFd load_pass_program() {
  const bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_UNSPEC}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  return UniqueFd(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tc_ingress_test", "GPL", insns, 2, nullptr));
}

uint32_t prog_id(int fd) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info.id : 0;
}

class TcIngress : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET | CLONE_NEWNS), 0) << "needs root for private namespaces";
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    char dir[] = "/tmp/tc_ingress_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    pins = dir;
    ASSERT_TRUE(bpffs::ensure_mounted(pins));
    auto connected = rtnl::Rtnl::connect();
    ASSERT_TRUE(connected);
    rtnl = std::move(*connected);
    make_tap();
    first = load_pass_program();
    second = load_pass_program();
    ASSERT_TRUE(first && second);
    probe_tcx();
  }
  void TearDown() override {
    tap.reset();
    umount2(pins.c_str(), MNT_DETACH);
    rmdir(pins.c_str());
  }

  void make_tap() {
    tap.reset();
    auto fd = tun::open_device();
    ASSERT_TRUE(fd);
    ASSERT_TRUE(tun::set_iff(fd->get(), "tci0", IFF_TAP | IFF_NO_PI));
    tap = std::move(*fd);
    ifindex = rtnl->get_link("tci0")->ifindex;
  }

  void probe_tcx() {
    LIBBPF_OPTS(bpf_link_create_opts, opts);
    int fd = bpf_link_create(first.get(), ifindex, static_cast<bpf_attach_type>(kTcxIngress), &opts);
    has_tcx = fd >= 0;
    if (fd >= 0) close(fd);
  }

  std::vector<uint32_t> tcx_programs() {
    uint32_t ids[8] = {}, count = 8;
    if (bpf_prog_query(ifindex, static_cast<bpf_attach_type>(kTcxIngress), 0, nullptr, ids, &count) != 0) return {};
    return {ids, ids + count};
  }

  bool has_cls_bpf(uint32_t handle = 7, uint32_t priority = 7) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
    return bpf_tc_query(&hook, &opts) == 0;
  }

  TcIngressPlace place(bool replaces_cls_bpf = false) { return {7, 7, pins + "/link", replaces_cls_bpf}; }

  std::optional<rtnl::Rtnl> rtnl;
  std::string pins;
  UniqueFd tap, first, second;
  int ifindex = 0;
  bool has_tcx = false;
};

TEST_F(TcIngress, TcxLinkIsPinnedFirstAndReusedByTheNextDaemon) {
  if (!has_tcx) GTEST_SKIP() << "this kernel has no tcx (Linux 6.6): cls_bpf is used, tested below";
  auto filter = TcIngressFilter::attach(ifindex, "tci0", first.get(), place());
  ASSERT_TRUE(filter) << filter.error().message;
  EXPECT_TRUE(filter->is_tcx());
  EXPECT_EQ(tcx_programs(), std::vector<uint32_t>{prog_id(first.get())});
  EXPECT_FALSE(has_cls_bpf());
  struct stat st{};
  EXPECT_EQ(stat((pins + "/link").c_str(), &st), 0);

  // The daemon stops, leaving it; the next one swaps its program in.
  filter->release();
  EXPECT_EQ(tcx_programs(), std::vector<uint32_t>{prog_id(first.get())});
  auto next = TcIngressFilter::attach(ifindex, "tci0", second.get(), place());
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(tcx_programs(), std::vector<uint32_t>{prog_id(second.get())}) << "replaced, not added";

  next->reset();
  EXPECT_TRUE(tcx_programs().empty());
  EXPECT_NE(stat((pins + "/link").c_str(), &st), 0) << "the pin goes with the link";
}

TEST_F(TcIngress, AnOlderVnetdsClsBpfFilterIsReplaced) {
  if (!has_tcx) GTEST_SKIP() << "this kernel has no tcx (Linux 6.6)";
  auto older = TcIngressFilter::attach(ifindex, "tci0", first.get(), {7, 7, "", false});
  ASSERT_TRUE(older) << older.error().message;
  EXPECT_FALSE(older->is_tcx());
  EXPECT_TRUE(has_cls_bpf());
  older->release();
  auto filter = TcIngressFilter::attach(ifindex, "tci0", second.get(), place(true));
  ASSERT_TRUE(filter) << filter.error().message;
  EXPECT_TRUE(filter->is_tcx());
  EXPECT_FALSE(has_cls_bpf());
  EXPECT_EQ(tcx_programs(), std::vector<uint32_t>{prog_id(second.get())});
}

TEST_F(TcIngress, APinLeftByAGoneTapGivesWayToAFreshLink) {
  if (!has_tcx) GTEST_SKIP() << "this kernel has no tcx (Linux 6.6)";
  auto filter = TcIngressFilter::attach(ifindex, "tci0", first.get(), place());
  ASSERT_TRUE(filter);
  filter->release();
  int old_ifindex = ifindex;
  make_tap();  // the tap is deleted and made again: the pinned link is defunct
  ASSERT_NE(ifindex, old_ifindex);
  auto fresh = TcIngressFilter::attach(ifindex, "tci0", second.get(), place());
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(tcx_programs(), std::vector<uint32_t>{prog_id(second.get())});
}

TEST_F(TcIngress, DetachRemovesBothKinds) {
  auto older = TcIngressFilter::attach(ifindex, "tci0", first.get(), {7, 7, "", false});
  ASSERT_TRUE(older) << older.error().message;
  older->release();
  if (has_tcx) {
    // A link the daemon pinned, and a cls_bpf filter beside it.
    auto link = TcIngressFilter::attach(ifindex, "tci0", second.get(), place());
    ASSERT_TRUE(link);
    link->release();
    EXPECT_EQ(tcx_programs().size(), 1u);
  }
  EXPECT_TRUE(has_cls_bpf());
  ASSERT_TRUE(TcIngressFilter::detach(ifindex, place()));
  EXPECT_FALSE(has_cls_bpf());
  EXPECT_TRUE(tcx_programs().empty());
  EXPECT_TRUE(TcIngressFilter::detach(ifindex, place())) << "twice is no error";
}

}  // namespace
}  // namespace vnet::ebpf
