// rx_filter_bench - what the guest's rx filter (ebpf/rx_filter.bpf.c) costs,
// in one run (bench/README.md):
//  1. ns per frame of the program under BPF_PROG_TEST_RUN, for several frame
//     classes, minus the same test run of an empty socket filter;
//  2. frames/s through a tap (host side -> the tap's reader, as a VMM reads
//     it) without and with the filter attached, in a network namespace of
//     this process's own (unshare), so nothing is left behind however it ends.
// It fails (status 1) only if the filter did not do its job or a step failed;
// targets are reported, never enforced. Not root: status 77.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ebpf/rx_filter_program.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::bench {
namespace {

using ebpf::Mac;
using Frame = std::vector<uint8_t>;

constexpr double kTargetNs = 30.0;            // filter cost per frame
constexpr double kTargetLossPercent = 5;      // throughput lost to the filter
constexpr size_t kBatch = 256;                // frames per sendmmsg burst; under the tap's 500-frame ring
constexpr size_t kFrameLen = 60;              // ETH_ZLEN: the smallest frame, where the filter weighs most
constexpr uint16_t kProbeEthertype = 0x88b5;  // IEEE local experimental: nothing else sends it
const char kTapName[] = "vbrx0";

const Mac kMain{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const Mac kSource{0x02, 0x00, 0x00, 0x00, 0x00, 0xaa};
const Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const std::vector<uint16_t> kVlans{5, 100};

struct Options {
  bool quick = false;
  int rounds = 7;
  uint32_t repeat = 1000000;  // BPF_PROG_TEST_RUN repeats per measurement
  size_t frames = 200000;     // frames per tap round
};

Mac numbered(uint8_t first, uint8_t n) { return {first, 0x00, 0x5e, 0x00, 0x01, n}; }

Frame frame_to(const Mac& dst, int vlan = -1) {
  Frame f(dst.begin(), dst.end());
  f.insert(f.end(), kSource.begin(), kSource.end());
  if (vlan >= 0) f.insert(f.end(), {0x81, 0x00, uint8_t(vlan >> 8), uint8_t(vlan)});
  f.insert(f.end(), {uint8_t(kProbeEthertype >> 8), uint8_t(kProbeEthertype & 0xff)});
  f.resize(kFrameLen, 0x5a);
  return f;
}

// The guest's filter under test: not promiscuous, normal modes, VLAN table
// in use, the MAC table full. virtio-net holds 64 MACs in all
// (MAC_TABLE_ENTRIES, which RxFilterProgram::apply enforces): 32 + 32.
ebpf::RxFilterState full_filter() {
  ebpf::RxFilterState s;
  s.promiscuous = false;
  s.unicast = s.multicast = s.vlan = ebpf::RxMode::normal;
  s.broadcast_allowed = true;
  s.main_mac = kMain;
  for (uint8_t i = 0; i < 32; i++) s.unicast_table.push_back(numbered(0x02, i));
  for (uint8_t i = 0; i < 32; i++) s.multicast_table.push_back(numbered(0x01, i));
  s.vlan_table = kVlans;
  return s;
}

struct FrameClass {
  const char* name;
  Frame frame;
  bool passes;
};

std::vector<FrameClass> frame_classes(const ebpf::RxFilterState& s) {
  return {
      {"own MAC", frame_to(kMain), true},
      {"unicast table hit", frame_to(s.unicast_table[17]), true},
      {"unicast miss", frame_to(numbered(0x02, 0xee)), false},
      {"multicast table hit", frame_to(s.multicast_table[17]), true},
      {"broadcast", frame_to(kBroadcast), true},
      {"VLAN 100, own MAC", frame_to(kMain, 100), true},
  };
}

// An empty socket filter (r0 = skb->len; exit): what BPF_PROG_TEST_RUN
// costs around any program, subtracted from the filter's time.
UniqueFd load_empty_program() {
  const bpf_insn insns[] = {
      {BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_1, offsetof(__sk_buff, len), 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "bench_empty", "GPL", insns, 2, nullptr);
  if (fd < 0) throw Failure{std::string("loading the empty socket filter: ") + std::strerror(-fd)};
  return UniqueFd(fd);
}

struct TestRun {
  uint32_t ns;      // mean per repeat, as the kernel measured it
  uint32_t retval;  // bytes kept; 0 = dropped
};

// BPF_PROG_TEST_RUN on a whole Ethernet frame: the kernel pulls the Ethernet
// header (eth_type_trans) before the program runs, which is why the filter
// reads the header relative to BPF_HDR_START_MAC.
TestRun test_run(int prog_fd, const Frame& frame, uint32_t repeat) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
              .repeat = int(repeat));
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts)) {
    throw Failure{std::string("BPF_PROG_TEST_RUN: ") + std::strerror(err < 0 ? -err : errno)};
  }
  return {opts.duration, opts.retval};
}

struct ClassCost {
  double filter_ns, empty_ns;
};

std::vector<ClassCost> measure_program(const Options& o, ebpf::RxFilterProgram& program,
                                       const std::vector<FrameClass>& classes) {
  UniqueFd empty = load_empty_program();
  std::vector<ClassCost> costs;
  for (const auto& c : classes) {
    std::vector<double> filter_ns, empty_ns;
    for (int round = 0; round < o.rounds; round++) {
      auto before = must(program.counters());
      // Alternate which goes first, so that drift favours neither.
      TestRun e{}, f{};
      if (round % 2) e = test_run(empty.get(), c.frame, o.repeat);
      f = test_run(program.prog_fd(), c.frame, o.repeat);
      if (round % 2 == 0) e = test_run(empty.get(), c.frame, o.repeat);
      auto after = must(program.counters());
      std::string what = std::string(c.name) + " frame";
      check((f.retval != 0) == c.passes, what + (c.passes ? " passes the filter" : " is dropped by the filter"));
      check(e.retval == kFrameLen - ETH_HLEN, what + ": the empty program returns skb->len");
      uint64_t passed = after.passed - before.passed, dropped = after.dropped - before.dropped;
      check(passed == (c.passes ? o.repeat : 0) && dropped == (c.passes ? 0 : o.repeat),
            what + ": the filter counted " + std::to_string(passed) + " passed, " + std::to_string(dropped) +
                " dropped in " + std::to_string(o.repeat) + " runs");
      filter_ns.push_back(f.ns);
      empty_ns.push_back(e.ns);
    }
    costs.push_back({median(filter_ns), median(empty_ns)});
  }
  return costs;
}

// The tap, its host side and its reader, in this process's own namespace.
class TapPath {
 public:
  TapPath() {
    tap_ = must(tun::open_device());  // non-blocking: the reader polls
    must(tun::set_iff(tap_.get(), kTapName, IFF_TAP | IFF_NO_PI));
    auto rtnl = must(rtnl::Rtnl::connect());
    int ifindex = must(rtnl.get_link(kTapName)).ifindex;
    rtnl::LinkChange up;
    up.up = true;
    must(rtnl.change_link(ifindex, up));
    // Protocol 0: this socket only sends; it receives nothing, not even its own frames.
    host_ = UniqueFd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (!host_) throw Failure{std::string("AF_PACKET socket: ") + std::strerror(errno)};
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_ifindex = ifindex;
    if (bind(host_.get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)) < 0) {
      throw Failure{std::string("binding the AF_PACKET socket to ") + kTapName + ": " + std::strerror(errno)};
    }
  }

  void attach(int prog_fd) { must(tun::set_filter_ebpf(tap_.get(), prog_fd)); }

  // Sends n copies of frame from the host side in bursts of kBatch, reading
  // each burst from the tap before the next; returns how many of our frames
  // the reader got. Both sides on one thread: nothing overflows the tap's
  // ring, and the machine's second CPU stays out of the measurement.
  size_t move(const Frame& frame, size_t n, size_t expect_per_burst) {
    std::vector<iovec> iov(kBatch, iovec{const_cast<uint8_t*>(frame.data()), frame.size()});
    std::vector<mmsghdr> msgs(kBatch);
    for (size_t i = 0; i < kBatch; i++) msgs[i].msg_hdr = msghdr{nullptr, 0, &iov[i], 1, nullptr, 0, 0};
    size_t received = 0;
    for (size_t done = 0; done < n;) {
      size_t burst = std::min(kBatch, n - done);
      for (size_t sent = 0; sent < burst;) {
        int k = sendmmsg(host_.get(), msgs.data() + sent, unsigned(burst - sent), 0);
        if (k < 0) throw Failure{std::string("sendmmsg on ") + kTapName + ": " + std::strerror(errno)};
        sent += size_t(k);
      }
      received += read_burst(std::min(burst, expect_per_burst));
      done += burst;
    }
    return received;
  }

 private:
  // Reads until `want` of our frames came, then whatever else is queued.
  size_t read_burst(size_t want) {
    uint8_t buf[2048];
    size_t got = 0;
    for (;;) {
      ssize_t len = read(tap_.get(), buf, sizeof(buf));
      if (len < 0 && errno == EAGAIN) {
        if (got >= want) return got;
        pollfd p{tap_.get(), POLLIN, 0};
        int ready = poll(&p, 1, 1000);
        if (ready == 0) return got;  // a lost frame: the caller sees the count
        if (ready < 0 && errno != EINTR)
          throw Failure{std::string("poll on ") + kTapName + ": " + std::strerror(errno)};
        continue;
      }
      if (len < 0) throw Failure{std::string("read from ") + kTapName + ": " + std::strerror(errno)};
      if (size_t(len) == kFrameLen && buf[12] == kProbeEthertype >> 8 && buf[13] == (kProbeEthertype & 0xff)) got++;
    }
  }

  UniqueFd tap_;
  UniqueFd host_;
};

void write_sysctl(const char* path, const char* value) {
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  if (fd) (void)!write(fd.get(), value, strlen(value));  // no IPv6 in this kernel: nothing to silence
}

struct Throughput {
  double without, with;  // median frames/s
  double without_min, without_max, with_min, with_max;
};

Throughput measure_tap(const Options& o, ebpf::RxFilterProgram& program) {
  if (unshare(CLONE_NEWNET) < 0) throw Failure{std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno)};
  // A new link would send IPv6 solicitations into the tap, between our frames.
  write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
  write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  TapPath path;
  const Frame to_main = frame_to(kMain);
  using clock = std::chrono::steady_clock;

  auto side = [&](bool filtered) {
    path.attach(filtered ? program.prog_fd() : -1);
    auto before = must(program.counters());
    auto start = clock::now();
    size_t got = path.move(to_main, o.frames, kBatch);
    double seconds = std::chrono::duration<double>(clock::now() - start).count();
    auto after = must(program.counters());
    std::string which = filtered ? "with the filter" : "without the filter";
    check(got == o.frames,
          which + ": the tap's reader got " + std::to_string(got) + " of " + std::to_string(o.frames) + " frames");
    uint64_t passed = after.passed - before.passed, dropped = after.dropped - before.dropped;
    check(
        passed == (filtered ? o.frames : 0) && dropped == 0,
        which + ": the filter counted " + std::to_string(passed) + " passed, " + std::to_string(dropped) + " dropped");
    return double(o.frames) / seconds;
  };

  side(false);  // warm-up: first touches of the ring, the qdisc, the caches
  side(true);
  std::vector<double> without, with;
  for (int round = 0; round < o.rounds; round++) {
    if (round % 2 == 0) {
      without.push_back(side(false));
      with.push_back(side(true));
    } else {
      with.push_back(side(true));
      without.push_back(side(false));
    }
  }

  // The filter drops on the tap path too: unlisted unicast never reaches the reader.
  path.attach(program.prog_fd());
  auto before = must(program.counters());
  size_t got = path.move(frame_to(numbered(0x02, 0xee)), 1000, 0);
  // Then one to the main MAC: once it is read, every frame before it was decided.
  got += path.move(to_main, 1, 1);
  auto after = must(program.counters());
  check(got == 1 && after.dropped - before.dropped == 1000 && after.passed - before.passed == 1,
        "1000 frames to an unlisted MAC, then 1 to the main MAC: the reader got " + std::to_string(got) +
            " frames, the filter dropped " + std::to_string(after.dropped - before.dropped) + " and passed " +
            std::to_string(after.passed - before.passed));
  path.attach(-1);

  auto [wmin, wmax] = std::minmax_element(without.begin(), without.end());
  auto [fmin, fmax] = std::minmax_element(with.begin(), with.end());
  return {median(without), median(with), *wmin, *wmax, *fmin, *fmax};
}

const char* verdict(bool met) { return met ? "MET" : "MISSED"; }

int run(const Options& o) {
  utsname u{};
  uname(&u);
  auto program = must(ebpf::RxFilterProgram::load());
  const auto filter = full_filter();
  must(program->apply(filter));
  const auto classes = frame_classes(filter);

  std::printf("rx_filter_bench: kernel %s, %ld CPUs online%s\n", u.release, sysconf(_SC_NPROCESSORS_ONLN),
              o.quick ? ", --quick" : "");
  std::printf(
      "filter: not promiscuous; unicast, multicast, vlan normal; broadcast allowed; %zu unicast + %zu "
      "multicast MACs (virtio-net's 64 in all); VLANs 5, 100\n\n",
      filter.unicast_table.size(), filter.multicast_table.size());

  std::printf("1. the program under BPF_PROG_TEST_RUN: %zu-byte frames, %u repeats x %d rounds, medians\n", kFrameLen,
              o.repeat, o.rounds);
  std::printf("   %-22s %-8s %10s %14s %12s\n", "frame class", "verdict", "rx_filter", "empty program", "filter cost");
  auto costs = measure_program(o, *program, classes);
  double worst = 0;
  const char* worst_name = "";
  for (size_t i = 0; i < classes.size(); i++) {
    double net = costs[i].filter_ns - costs[i].empty_ns;
    if (net >= worst) worst = net, worst_name = classes[i].name;
    std::printf("   %-22s %-8s %7.0f ns %11.0f ns %9.0f ns\n", classes[i].name, classes[i].passes ? "pass" : "drop",
                costs[i].filter_ns, costs[i].empty_ns, net);
  }

  std::printf(
      "\n2. tap throughput: %zu frames of %zu bytes to the main MAC per side and round, %d rounds "
      "interleaved, in a private network namespace\n",
      o.frames, kFrameLen, o.rounds);
  auto t = measure_tap(o, *program);
  std::printf("   %-20s %14s %14s %14s\n", "side", "median fps", "min", "max");
  std::printf("   %-20s %14.0f %14.0f %14.0f\n", "no filter", t.without, t.without_min, t.without_max);
  std::printf("   %-20s %14.0f %14.0f %14.0f\n", "rx filter attached", t.with, t.with_min, t.with_max);
  double ratio = t.with / t.without, loss = (1 - ratio) * 100;
  double per_frame_ns = (1e9 / t.with) - (1e9 / t.without);
  std::printf("   ratio with/without: %.3f (%.1f%% %s; %+.0f ns per frame)\n", ratio, std::abs(loss),
              loss >= 0 ? "lost" : "gained", per_frame_ns);
  std::printf("   the filter dropped 1000 of 1000 frames to an unlisted MAC on the tap\n");

  std::printf("\ntargets:\n");
  std::printf("   filter cost per frame, worst class (%s): %.0f ns (< %.0f ns) %s\n", worst_name, worst, kTargetNs,
              verdict(worst < kTargetNs));
  std::printf("   tap throughput lost to the filter: %.1f%% (< %.0f%%) %s\n", loss, kTargetLossPercent,
              verdict(loss < kTargetLossPercent));
  return 0;
}

void usage(FILE* to) {
  std::fprintf(to,
               "usage: rx_filter_bench [--quick] [--rounds R] [--repeat N] [--frames N]\n"
               "  --quick      smoke run: 3 rounds, 100000 repeats, 20000 frames (unless given)\n"
               "  --rounds R   rounds of every measurement; medians are reported (default 7)\n"
               "  --repeat N   BPF_PROG_TEST_RUN repeats per measurement (default 1000000)\n"
               "  --frames N   frames per tap side and round (default 200000)\n");
}

}  // namespace
}  // namespace vnet::bench

int main(int argc, char** argv) {
  using namespace vnet::bench;
  Options o;
  bool rounds_given = false, repeat_given = false, frames_given = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    auto number = [&](long min) {
      char* end = nullptr;
      long v = i + 1 < argc ? std::strtol(argv[++i], &end, 10) : 0;
      if (!end || *end || v < min) {
        usage(stderr);
        std::exit(2);
      }
      return v;
    };
    if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--rounds") {
      o.rounds = int(number(1)), rounds_given = true;
    } else if (arg == "--repeat") {
      o.repeat = uint32_t(number(1)), repeat_given = true;
    } else if (arg == "--frames") {
      o.frames = size_t(number(1)), frames_given = true;
    } else if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (o.quick) {
    if (!rounds_given) o.rounds = 3;
    if (!repeat_given) o.repeat = 100000;
    if (!frames_given) o.frames = 20000;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "rx_filter_bench: needs root (BPF programs, a network namespace, /dev/net/tun); skipped\n");
    return 77;
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    std::fprintf(stderr, "rx_filter_bench: /dev/net/tun is missing (modprobe tun); skipped\n");
    return 77;
  }
  try {
    return run(o);
  } catch (const Failure& f) {
    std::fflush(stdout);
    std::fprintf(stderr, "rx_filter_bench: %s\n", f.message.c_str());
    return 1;
  }
}
