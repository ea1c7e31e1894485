// anti_spoof_bench - what guest anti-spoofing (ebpf/anti_spoof.bpf.c) costs,
// in one run (bench/README.md):
//  1. ns per frame of the program under BPF_PROG_TEST_RUN for every frame
//     class of bench/anti_spoof_corpus.h, minus an empty tc program's run;
//     with 2 allowed prefixes and with 2,000 (the LPM tries' cost is their
//     depth, not their size);
//  2. frames written into a tap's fd (as a VMM writes them) per second of
//     the writer's CPU, without and with the program on the tap's tc
//     ingress (tcx where the kernel has it, as vnetd attaches it);
//  3. 1. and 2. again with 1,000 taps, each with its own program and maps.
// All in network and mount namespaces of its own (unshare; the tcx links are
// pinned on a private bpffs): nothing is left behind
// however it ends. It fails (status 1) only if the program did not do its
// job or a step failed; targets are reported, never enforced. Not root: 77.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "backends/nic/ip_prefix.h"
#include "bench/anti_spoof_corpus.h"
#include "ebpf/anti_spoof_program.h"
#include "ebpf/libbpf_log.h"
#include "ebpf/tc_ingress.h"
#include "kernel_ifaces/bpffs.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::bench {
namespace {

namespace corpus = spoof_corpus;

constexpr double kTargetNs = 30.0;
constexpr double kTargetLossPercent = 5;

struct Options {
  bool quick = false;
  int rounds = 5;
  uint32_t repeat = 1000000;
  size_t frames = 200000;
  int nics = 1000;
};

uint64_t counter_of(const ebpf::AntiSpoofCounters& c, int which) {
  const uint64_t values[] = {c.bad_mac, c.bad_arp, c.bad_ipv4, c.bad_ipv6, c.bad_na, c.other, c.passed};
  return values[which];
}

ebpf::AntiSpoofSettings settings_for(const corpus::Bytes& mac, std::vector<std::string> allowed, bool drop_other) {
  ebpf::AntiSpoofSettings s;
  std::copy(mac.begin(), mac.end(), s.mac.begin());
  s.drop_other = drop_other;
  s.allowed = must(nic::parse_ip_prefixes(allowed, "allowed-ips"));
  return s;
}

// The corpus' 2 prefixes, or those and 999 more of each family around them.
std::vector<std::string> allowed_ips(bool many) {
  std::vector<std::string> out{"10.0.0.5/32", "2001:db8::/64"};
  for (int i = 0; many && i < 999; i++) {
    out.push_back("10." + std::to_string(1 + i / 250) + "." + std::to_string(i % 250) + ".0/24");
    char v6[64];
    std::snprintf(v6, sizeof(v6), "2001:db8:%x::/48", 0x100 + i);
    out.push_back(v6);
  }
  return out;
}

// r0 = TC_ACT_UNSPEC (pass, as anti_spoof passes); exit: what the hook, or
// BPF_PROG_TEST_RUN, costs around any tc program.
UniqueFd load_empty_program() {
  const bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_UNSPEC}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "bench_empty", "GPL", insns, 2, nullptr);
  if (fd < 0) throw Failure{std::string("loading the empty tc program: ") + std::strerror(-fd)};
  return UniqueFd(fd);
}

struct TestRun {
  uint32_t ns, retval;
};
TestRun test_run(int prog_fd, const corpus::Bytes& frame, uint32_t repeat) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
              .repeat = int(repeat));
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts)) {
    throw Failure{std::string("BPF_PROG_TEST_RUN: ") + std::strerror(err < 0 ? -err : errno)};
  }
  return {opts.duration, opts.retval};
}

// Net ns per frame of every corpus class, on one program; checks verdicts
// and that each run was counted under its reason.
std::vector<double> measure_classes(const Options& o, ebpf::AntiSpoofProgram& program, int empty_fd,
                                    const std::vector<std::string>& allowed) {
  std::vector<double> net;
  for (const auto& c : corpus::corpus()) {
    must(program.apply(settings_for(corpus::kOwnMac, allowed, c.drop_other_mode)));
    std::vector<double> spent, empty;
    for (int round = 0; round < o.rounds; round++) {
      auto before = must(program.counters());
      TestRun e{}, f{};
      if (round % 2) e = test_run(empty_fd, c.frame, o.repeat);
      f = test_run(program.prog_fd(), c.frame, o.repeat);
      if (round % 2 == 0) e = test_run(empty_fd, c.frame, o.repeat);
      auto after = must(program.counters());
      check(int(f.retval) == (c.expected == AS_COUNT_PASSED ? TC_ACT_UNSPEC : TC_ACT_SHOT), c.name + ": verdict");
      check(counter_of(after, c.expected) - counter_of(before, c.expected) == o.repeat,
            c.name + ": counted under its reason once per run");
      spent.push_back(f.ns);
      empty.push_back(e.ns);
    }
    net.push_back(median(spent) - median(empty));
  }
  must(program.apply(settings_for(corpus::kOwnMac, allowed, false)));
  return net;
}

struct Tap {
  UniqueFd fd;
  int ifindex = 0;
  std::unique_ptr<ebpf::AntiSpoofProgram> program;
  ebpf::TcIngressFilter filter;
};

Tap make_tap(rtnl::Rtnl& rtnl, const std::string& name) {
  Tap tap;
  tap.fd = must(tun::open_device());
  must(tun::set_iff(tap.fd.get(), name, IFF_TAP | IFF_NO_PI));
  tap.ifindex = must(rtnl.get_link(name)).ifindex;
  rtnl::LinkChange up;
  up.up = true;
  must(rtnl.change_link(tap.ifindex, up));
  return tap;
}

// Where the bench's tcx links are pinned (a private bpffs), "" for cls_bpf.
std::string g_link_pin_dir;

ebpf::TcIngressPlace bench_place(const std::string& link_name) {
  return {0x5653, 0x5653, g_link_pin_dir.empty() ? "" : g_link_pin_dir + "/" + link_name};
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Frames per second of the writer's CPU, write() into the tap fd: the frame
// goes through tun_get_user() and the tap's receive path (tc ingress and
// the stack's drop included) within the call, on this thread. CPU time, not
// wall time: a CPU-bound writer's throughput is its inverse, and time the
// thread spends preempted by other work on a shared machine does not count.
double write_rate(const Tap& tap, const corpus::Bytes& frame, size_t n) {
  double start = thread_cpu_seconds();
  for (size_t i = 0; i < n; i++) {
    if (write(tap.fd.get(), frame.data(), frame.size()) != ssize_t(frame.size())) {
      throw Failure{std::string("write into the tap: ") + std::strerror(errno)};
    }
  }
  return double(n) / (thread_cpu_seconds() - start);
}

struct Throughput {
  // Median fps: no filter, an empty program and anti_spoof on the hook vnetd
  // uses, and anti_spoof as a cls_bpf filter (the hook before tcx).
  double without, empty, with, cls_bpf;
  double best_without, best_empty, best_with, best_cls_bpf;  // the fastest round of each: the least disturbed
};

// A legit IPv4 UDP frame of `size` bytes (Ethernet header included): the
// corpus' legit-ipv4 (60 bytes) grown by its payload.
corpus::Bytes legit_ipv4(size_t size) {
  auto l4 = corpus::udp(1000, 2000);
  const size_t headers = 14 + 20;
  if (size > headers + l4.size()) l4.resize(size - headers, 'p');
  l4[4] = uint8_t(l4.size() >> 8), l4[5] = uint8_t(l4.size());
  return corpus::eth(corpus::kOwnMac, 0x0800, corpus::ipv4(corpus::kAllowed4, l4));
}

// The tap path's per-frame cost is mostly fixed, so the hook's share of it
// is largest for the smallest frames: both ends are measured.
constexpr size_t kFrameSizes[] = {60, 1514};

// Legit IPv4 (MAC check and an LPM lookup: the common path), the sides
// interleaved, rounds rotating which goes first. The empty program
// separates what the hook costs from what our program does.
Throughput measure_tap(const Options& o, Tap& tap, ebpf::AntiSpoofProgram& program, int empty_fd, size_t size) {
  const auto frame = legit_ipv4(size);
  enum Side { none, empty, ours, ours_cls_bpf, kSides };
  auto side = [&](Side which) {
    tap.filter.reset();
    if (which != none) {
      auto place = bench_place("link" + std::to_string(tap.ifindex));
      if (which == ours_cls_bpf) place.link_pin.clear();
      tap.filter = must(ebpf::TcIngressFilter::attach(tap.ifindex, "bench tap",
                                                      which == empty ? empty_fd : program.prog_fd(), place));
    }
    auto before = must(program.counters());
    double rate = write_rate(tap, frame, o.frames);
    auto after = must(program.counters());
    bool decided = which == ours || which == ours_cls_bpf;
    check(after.passed - before.passed == (decided ? o.frames : 0), "frames decided by the filter");
    return rate;
  };
  side(none);
  side(ours);
  std::vector<double> rates[kSides];
  for (int round = 0; round < o.rounds; round++) {
    for (int k = 0; k < kSides; k++) {
      Side which = Side((round + k) % kSides);
      rates[which].push_back(side(which));
    }
  }
  // It drops on the tap path too.
  side(ours);
  auto before = must(program.counters());
  const auto spoof = corpus::eth(corpus::kOwnMac, 0x0800, corpus::ipv4(corpus::kOther4, corpus::udp(1, 2)));
  write_rate(tap, spoof, 1000);
  check(must(program.counters()).bad_ipv4 - before.bad_ipv4 == 1000, "1000 spoofed frames dropped on the tap");
  tap.filter.reset();
  auto best = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  return {median(rates[none]), median(rates[empty]), median(rates[ours]), median(rates[ours_cls_bpf]),
          best(rates[none]),   best(rates[empty]),   best(rates[ours]),   best(rates[ours_cls_bpf])};
}

void print_throughput(const char* what, const Throughput& t) {
  std::printf("   %s:\n   no filter %.0f fps, empty program %.0f fps, anti_spoof %.0f fps, anti_spoof as cls_bpf %.0f fps\n",
              what, t.without, t.empty, t.with, t.cls_bpf);
  std::printf("   medians: ratio anti_spoof/no filter %.3f (%+.0f ns per frame); anti_spoof/empty program %.3f; "
              "as cls_bpf/no filter %.3f\n",
              t.with / t.without, 1e9 / t.with - 1e9 / t.without, t.with / t.empty, t.cls_bpf / t.without);
  std::printf("   best rounds: no filter %.0f, empty %.0f, anti_spoof %.0f, as cls_bpf %.0f fps: ratio anti_spoof/no "
              "filter %.3f (%+.0f ns per frame); as cls_bpf %.3f (%+.0f ns)\n",
              t.best_without, t.best_empty, t.best_with, t.best_cls_bpf, t.best_with / t.best_without,
              1e9 / t.best_with - 1e9 / t.best_without, t.best_cls_bpf / t.best_without,
              1e9 / t.best_cls_bpf - 1e9 / t.best_without);
}

void write_sysctl(const char* path, const char* value) {
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  if (fd) (void)!write(fd.get(), value, strlen(value));
}

void print_classes(const std::vector<double>& a, const std::vector<double>& b, const char* ha, const char* hb) {
  auto classes = corpus::corpus();
  std::printf("   %-30s %-9s %12s %12s\n", "frame class", "verdict", ha, hb);
  for (size_t i = 0; i < classes.size(); i++) {
    std::printf("   %-30s %-9s %9.1f ns %9.1f ns\n", classes[i].name.c_str(),
                classes[i].expected == AS_COUNT_PASSED ? "pass" : "drop", a[i], b[i]);
  }
}

int run(const Options& o) {
  utsname u{};
  uname(&u);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) throw Failure{std::string("unshare: ") + std::strerror(errno)};
  // A bpffs of our own for the tcx links' pins, gone with the mount namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
    throw Failure{std::string("making / private: ") + std::strerror(errno)};
  }
  char pin_dir[] = "/tmp/anti_spoof_bench.XXXXXX";
  if (!mkdtemp(pin_dir)) throw Failure{std::string("mkdtemp: ") + std::strerror(errno)};
  must(bpffs::ensure_mounted(pin_dir));
  g_link_pin_dir = pin_dir;
  write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
  write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  auto rtnl = must(rtnl::Rtnl::connect());
  UniqueFd empty = load_empty_program();
  auto first = must(ebpf::AntiSpoofProgram::load(""));

  {
    // Which hook vnetd would use here: tcx where the kernel has it.
    Tap probe = make_tap(rtnl, "vasprobe");
    auto filter = must(ebpf::TcIngressFilter::attach(probe.ifindex, "vasprobe", empty.get(), bench_place("probe")));
    std::printf("anti_spoof_bench: kernel %s, %ld CPUs online, hook %s%s\n", u.release, sysconf(_SC_NPROCESSORS_ONLN),
                filter.is_tcx() ? "tcx" : "cls_bpf (no tcx in this kernel)", o.quick ? ", --quick" : "");
  }
  std::printf("\n1. the program under BPF_PROG_TEST_RUN, %u repeats x %d rounds, medians, minus an empty tc program\n",
              o.repeat, o.rounds);
  auto few = measure_classes(o, *first, empty.get(), allowed_ips(false));
  auto many = measure_classes(o, *first, empty.get(), allowed_ips(true));
  print_classes(few, many, "2 prefixes", "2000 prefixes");

  std::printf("\n2. tap throughput (frames per second of the writer's CPU), 1 NIC: %zu legit IPv4 frames written per side "
              "and round, %d rounds\n", o.frames,
              o.rounds);
  std::vector<Tap> taps;
  taps.push_back(make_tap(rtnl, "vas0"));
  std::vector<Throughput> one;
  for (size_t size : kFrameSizes) {
    one.push_back(measure_tap(o, taps[0], *first, empty.get(), size));
    print_throughput(("tap of the NIC, " + std::to_string(size) + "-byte frames").c_str(), one.back());
  }

  // vnetd's bridge netdev puts the tap on a bridge: each frame is then
  // forwarded (flooded to the bridge's other port, a tap nobody reads, and
  // to the bridge itself), as a guest's frames are on such a host.
  std::printf("\n2b. the same tap as a bridge port, its frames flooded to a second tap and the bridge\n");
  must(rtnl.add_bridge("vasbr"));
  int bridge = must(rtnl.get_link("vasbr")).ifindex;
  Tap other_port = make_tap(rtnl, "vasout");
  for (int port : {taps[0].ifindex, other_port.ifindex, bridge}) {
    rtnl::LinkChange change;
    change.up = true;
    if (port != bridge) change.master = bridge;
    must(rtnl.change_link(port, change));
  }
  std::vector<Throughput> bridged;
  for (size_t size : kFrameSizes) {
    bridged.push_back(measure_tap(o, taps[0], *first, empty.get(), size));
    print_throughput(("bridge port, " + std::to_string(size) + "-byte frames").c_str(), bridged.back());
  }
  rtnl::LinkChange off_bridge;
  off_bridge.master = 0;
  must(rtnl.change_link(taps[0].ifindex, off_bridge));

  std::printf("\n3. with %d NICs: %d taps, each with its own program and maps on its tc ingress\n", o.nics, o.nics);
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i < o.nics; i++) {
    Tap tap = make_tap(rtnl, "vas" + std::to_string(i));
    tap.program = must(ebpf::AntiSpoofProgram::load(""));
    corpus::Bytes mac{0x52, 0x54, 0x01, 0x00, uint8_t(i >> 8), uint8_t(i)};
    must(tap.program->apply(settings_for(mac, {"10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250)},
                                         false)));
    tap.filter = must(ebpf::TcIngressFilter::attach(tap.ifindex, "vas" + std::to_string(i), tap.program->prog_fd(),
                                                    bench_place("link" + std::to_string(tap.ifindex))));
    taps.push_back(std::move(tap));
  }
  std::printf("   set up in %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  auto few_n = measure_classes(o, *first, empty.get(), allowed_ips(false));
  auto last_n = measure_classes(o, taps.size() > 1 ? *taps.back().program : *first, empty.get(),
                                allowed_ips(false));
  print_classes(few_n, last_n, "NIC 1", ("NIC " + std::to_string(o.nics)).c_str());
  std::vector<Throughput> all;
  for (size_t size : kFrameSizes) {
    all.push_back(measure_tap(o, taps[0], *first, empty.get(), size));
    print_throughput(("tap of NIC 1, " + std::to_string(size) + "-byte frames").c_str(), all.back());
  }

  double worst = 0;
  for (const auto* v : {&few, &many, &few_n, &last_n}) worst = std::max(worst, *std::max_element(v->begin(), v->end()));
  std::printf("\ntargets:\n   worst class, any configuration: %.1f ns (< %.0f ns) %s\n", worst, kTargetNs,
              worst < kTargetNs ? "MET" : "MISSED");
  for (size_t i = 0; i < std::size(kFrameSizes); i++) {
    // The best rounds: on a shared machine the medians carry other work's noise.
    auto lost = [&](double Throughput::*side, double Throughput::*base) {
      return (1 - std::min(one[i].*side / one[i].*base, all[i].*side / all[i].*base)) * 100;
    };
    double loss = lost(&Throughput::best_with, &Throughput::best_without);
    std::printf("   %zu-byte frames: tap throughput lost to anti_spoof (best rounds), worse of 1 and %d NICs: "
                "%.1f%% (< %.0f%%) %s\n", kFrameSizes[i], o.nics, loss, kTargetLossPercent,
                loss < kTargetLossPercent ? "MET" : "MISSED");
    double bridged_loss = (1 - bridged[i].best_with / bridged[i].best_without) * 100;
    std::printf("      the tap as a bridge port: %.1f%% (< %.0f%%) %s\n", bridged_loss, kTargetLossPercent,
                bridged_loss < kTargetLossPercent ? "MET" : "MISSED");
    std::printf("      of which beyond an empty program on the same hook: %.1f%%; the empty program alone: %.1f%%; "
                "the same program as a cls_bpf filter (kernels without tcx): %.1f%%\n",
                lost(&Throughput::best_with, &Throughput::best_empty),
                lost(&Throughput::best_empty, &Throughput::best_without),
                lost(&Throughput::best_cls_bpf, &Throughput::best_without));
  }
  return 0;
}

}  // namespace
}  // namespace vnet::bench

int main(int argc, char** argv) {
  using namespace vnet::bench;
  // libbpf's messages as this program's lines: the kernel's refusal to create
  // a clsact qdisc that is there already (at each cls_bpf attach) is no
  // warning for us.
  vnet::log::set_program("anti_spoof_bench");
  vnet::ebpf::install_libbpf_log();
  Options o;
  bool rounds = false, repeat = false, frames = false, nics = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    auto number = [&](long min) {
      char* end = nullptr;
      long v = i + 1 < argc ? std::strtol(argv[++i], &end, 10) : 0;
      if (!end || *end || v < min) {
        std::fprintf(stderr, "anti_spoof_bench: %s needs a number >= %ld\n", arg.c_str(), min);
        std::exit(2);
      }
      return v;
    };
    if (arg == "--quick") o.quick = true;
    else if (arg == "--rounds") o.rounds = int(number(1)), rounds = true;
    else if (arg == "--repeat") o.repeat = uint32_t(number(1)), repeat = true;
    else if (arg == "--frames") o.frames = size_t(number(1)), frames = true;
    else if (arg == "--nics") o.nics = int(number(1)), nics = true;
    else {
      std::fprintf(stderr,
                   "usage: anti_spoof_bench [--quick] [--rounds R] [--repeat N] [--frames N] [--nics N]\n"
                   "  --quick: 1 round, 10000 repeats, 20000 frames, 20 NICs (unless given)\n");
      return 2;
    }
  }
  if (o.quick) {
    if (!rounds) o.rounds = 1;
    if (!repeat) o.repeat = 10000;
    if (!frames) o.frames = 20000;
    if (!nics) o.nics = 20;
  }
  if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
    std::fprintf(stderr, "anti_spoof_bench: needs root and /dev/net/tun: skipped\n");
    return 77;
  }
  try {
    return run(o);
  } catch (const Failure& f) {
    std::fprintf(stderr, "anti_spoof_bench: %s\n", f.message.c_str());
    return 1;
  }
}
