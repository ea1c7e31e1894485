// rx_filter.bpf.c decides as QEMU's virtio-net receive_filter(), checked by
// running the loaded program on frames with BPF_PROG_TEST_RUN (needs root).
#include <bpf/bpf.h>

#include <gtest/gtest.h>

#include "ebpf/rx_filter_program.h"

namespace vnet::ebpf {
namespace {

const Mac kOwn{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const Mac kOther{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
const Mac kListed{0x02, 0x00, 0x00, 0x00, 0x00, 0x07};
const Mac kMcastListed{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
const Mac kMcastOther{0x33, 0x33, 0x00, 0x00, 0x00, 0x02};
const Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

std::vector<uint8_t> frame(const Mac& dst, int vlan = -1) {
  std::vector<uint8_t> f(dst.begin(), dst.end());
  for (int i = 0; i < 6; i++) f.push_back(0x10 + i);  // source
  if (vlan >= 0) {
    f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(vlan >> 8), static_cast<uint8_t>(vlan)});
  }
  f.insert(f.end(), {0x08, 0x00});
  f.resize(64, 0x45);
  return f;
}

class RxFilterBpf : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = RxFilterProgram::load();
    ASSERT_TRUE(loaded) << loaded.error().message << " (loading BPF needs root)";
    program = std::move(loaded.value());
  }
  bool passes(const std::vector<uint8_t>& f) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()),
                .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(program->prog_fd(), &opts), 0);
    return opts.retval != 0;
  }
  RxFilterState strict() {
    RxFilterState s;
    s.promiscuous = false;
    s.broadcast_allowed = true;
    s.vlan = RxMode::normal;
    s.main_mac = kOwn;
    s.unicast_table = {kListed};
    s.multicast_table = {kMcastListed};
    s.vlan_table = {5};
    return s;
  }
  std::unique_ptr<RxFilterProgram> program;
};

TEST_F(RxFilterBpf, FreshNicIsPromiscuous) {
  for (const auto& dst : {kOwn, kOther, kMcastOther, kBroadcast}) EXPECT_TRUE(passes(frame(dst)));
  EXPECT_TRUE(passes(frame(kOther, 100)));
}

TEST_F(RxFilterBpf, NormalModesUseTheTables) {
  ASSERT_TRUE(program->apply(strict()));
  EXPECT_TRUE(passes(frame(kOwn)));
  EXPECT_TRUE(passes(frame(kListed)));
  EXPECT_FALSE(passes(frame(kOther)));
  EXPECT_TRUE(passes(frame(kMcastListed)));
  EXPECT_FALSE(passes(frame(kMcastOther)));
  EXPECT_TRUE(passes(frame(kBroadcast)));
  EXPECT_TRUE(passes(frame(kOwn, 5)));
  EXPECT_FALSE(passes(frame(kOwn, 6)));
}

TEST_F(RxFilterBpf, ModesAndOverflows) {
  auto s = strict();
  s.broadcast_allowed = false;
  s.unicast = RxMode::all;
  s.multicast = RxMode::none;
  ASSERT_TRUE(program->apply(s));
  EXPECT_FALSE(passes(frame(kBroadcast)));
  EXPECT_TRUE(passes(frame(kOther)));
  EXPECT_FALSE(passes(frame(kMcastListed)));
  s = strict();
  s.unicast = RxMode::none;
  s.multicast_overflow = true;
  ASSERT_TRUE(program->apply(s));
  EXPECT_FALSE(passes(frame(kOwn)));
  EXPECT_TRUE(passes(frame(kMcastOther)));
  s = strict();
  s.vlan = RxMode::all;
  ASSERT_TRUE(program->apply(s));
  EXPECT_TRUE(passes(frame(kOwn, 6)));
  s.vlan = RxMode::none;
  ASSERT_TRUE(program->apply(s));
  EXPECT_FALSE(passes(frame(kOwn, 5)));
  EXPECT_TRUE(passes(frame(kOwn)));
}

TEST_F(RxFilterBpf, ReadsBackWhatWasAppliedAndCounts) {
  auto s = strict();
  s.unicast_table = {kListed, kOther};
  s.multicast_table = {kMcastOther, kMcastListed};
  ASSERT_TRUE(program->apply(s));
  ASSERT_TRUE(program->apply(s));  // twice: flips slots, old entries go
  auto back = program->read();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->unicast_table, s.unicast_table);
  EXPECT_EQ(back->multicast_table, s.multicast_table);
  EXPECT_EQ(back->vlan_table, s.vlan_table);
  EXPECT_EQ(back->main_mac, kOwn);
  EXPECT_FALSE(back->promiscuous);
  passes(frame(kOwn));
  passes(frame(kMcastListed, 9));
  auto counted = program->counters();
  ASSERT_TRUE(counted);
  EXPECT_EQ(counted->passed, 1u);
  EXPECT_EQ(counted->dropped, 1u);
}

}  // namespace
}  // namespace vnet::ebpf
