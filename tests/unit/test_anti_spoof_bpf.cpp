// anti_spoof.bpf.c's decisions, run on one frame of every class with
// BPF_PROG_TEST_RUN (needs root), verdict and per-reason counter both.
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <gtest/gtest.h>

#include "backends/nic/ip_prefix.h"
#include "bench/anti_spoof_corpus.h"
#include "ebpf/anti_spoof_program.h"

namespace vnet::ebpf {
namespace {

namespace corpus = spoof_corpus;

uint64_t counter_of(const AntiSpoofCounters& c, int which) {
  switch (which) {
    case AS_COUNT_BAD_MAC: return c.bad_mac;
    case AS_COUNT_BAD_ARP: return c.bad_arp;
    case AS_COUNT_BAD_IPV4: return c.bad_ipv4;
    case AS_COUNT_BAD_IPV6: return c.bad_ipv6;
    case AS_COUNT_BAD_NA: return c.bad_na;
    case AS_COUNT_OTHER: return c.other;
    default: return c.passed;
  }
}

class AntiSpoofBpf : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = AntiSpoofProgram::load("");
    ASSERT_TRUE(loaded) << loaded.error().message << " (loading BPF needs root)";
    program = std::move(loaded.value());
    configure({"10.0.0.5/32", "2001:db8::/64"}, false);
  }
  void configure(const std::vector<std::string>& allowed, bool drop_other) {
    auto prefixes = nic::parse_ip_prefixes(allowed, "allowed-ips");
    ASSERT_TRUE(prefixes);
    AntiSpoofSettings settings;
    std::copy(corpus::kOwnMac.begin(), corpus::kOwnMac.end(), settings.mac.begin());
    settings.drop_other = drop_other;
    settings.allowed = *prefixes;
    auto applied = program->apply(settings);
    ASSERT_TRUE(applied) << applied.error().message;
  }
  int run(const corpus::Bytes& frame, int prog_fd = -1) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(prog_fd >= 0 ? prog_fd : program->prog_fd(), &opts), 0);
    return static_cast<int>(opts.retval);
  }
  // Every corpus frame through one hook: its verdict, and one count under its reason.
  void check_corpus(int prog_fd, int pass, int drop) {
    for (const auto& c : corpus::corpus()) {
      SCOPED_TRACE(c.name);
      configure({"10.0.0.5/32", "2001:db8::/64"}, c.drop_other_mode);
      auto before = program->counters();
      ASSERT_TRUE(before);
      EXPECT_EQ(run(c.frame, prog_fd), c.expected == AS_COUNT_PASSED ? pass : drop);
      auto after = program->counters();
      ASSERT_TRUE(after);
      EXPECT_EQ(counter_of(*after, c.expected), counter_of(*before, c.expected) + 1);
      EXPECT_EQ(after->drops() + after->passed, before->drops() + before->passed + 1);
    }
  }
  std::unique_ptr<AntiSpoofProgram> program;
};

TEST_F(AntiSpoofBpf, EveryClassGetsItsVerdictAndCounter) {
  check_corpus(program->prog_fd(), TC_ACT_UNSPEC, TC_ACT_SHOT);
}

// The XDP hook (a NIC's own tap on a hub) decides and counts as tc does.
TEST_F(AntiSpoofBpf, TheXdpHookGivesEveryClassTheSameVerdictAndCounter) {
  check_corpus(program->xdp_prog_fd(), XDP_PASS, XDP_DROP);
}

TEST_F(AntiSpoofBpf, NewPrefixesReplaceTheOldWhole) {
  auto legit4 = corpus::eth(corpus::kOwnMac, 0x0800, corpus::ipv4(corpus::kAllowed4, corpus::udp(1, 2)));
  auto other4 = corpus::eth(corpus::kOwnMac, 0x0800, corpus::ipv4(corpus::kOther4, corpus::udp(1, 2)));
  EXPECT_EQ(run(legit4), TC_ACT_UNSPEC);
  EXPECT_EQ(run(other4), TC_ACT_SHOT);
  configure({"10.0.0.6/32"}, false);
  EXPECT_EQ(run(legit4), TC_ACT_SHOT);
  EXPECT_EQ(run(other4), TC_ACT_UNSPEC);
  configure({"10.0.0.0/24"}, false);  // a shorter prefix covers both
  EXPECT_EQ(run(legit4), TC_ACT_UNSPEC);
  EXPECT_EQ(run(other4), TC_ACT_UNSPEC);
  configure({}, false);  // nothing allowed: only DHCP and link-local remain
  EXPECT_EQ(run(legit4), TC_ACT_SHOT);
}

TEST_F(AntiSpoofBpf, RuntFramesAreDropped) {
  corpus::Bytes runt(corpus::kBroadcast);
  runt.insert(runt.end(), corpus::kOwnMac.begin(), corpus::kOwnMac.end());
  runt.push_back(0x08);  // 13 bytes: no ethertype
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = runt.data(), .data_size_in = 13, .repeat = 1);
  // The kernel refuses to run a tc program on less than an Ethernet header.
  EXPECT_NE(bpf_prog_test_run_opts(program->prog_fd(), &opts), 0);
  auto truncated_arp = corpus::eth(corpus::kOwnMac, 0x0806, {});
  truncated_arp.resize(20);
  EXPECT_EQ(run(truncated_arp), TC_ACT_SHOT);
}

}  // namespace
}  // namespace vnet::ebpf
