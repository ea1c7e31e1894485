// tap_pair_load - the load side of bench/guest_to_guest.py: frames written
// into one guest's tap as its VMM writes them, counted where another guest's
// VMM would read them.
//
//   tap_pair_load --from ENDPOINT --to ENDPOINT --size N [--seconds S] [--dst-mac MAC] [--writers W]
//
// ENDPOINT is one of:
//   fd:N         an inherited tap queue fd with virtio-net headers (a vnetd nic's tap, from netdev-get-fds)
//   tap:NAME     a tap made here (IFF_TAP, no header), left for the caller to put on a bridge
//   packet:NAME  the host side of device NAME (an AF_PACKET socket): a frame sent there leaves through the
//                device, a frame the device receives is read there (QEMU's taps, which QEMU holds)
//   udp:PORT     (--to only) a UDP socket on 127.0.0.1:PORT, counting datagrams: a tunnel's far end
//                (bench/guest_to_l2tpv3.py)
//
// Frames are N bytes, unicast to --dst-mac (default 52:54:00:00:00:02) from
// 52:54:00:00:00:01, ethertype 0x88b5, one write per frame for S seconds, by
// W threads on the same fd (default 1: one writer cannot offer what some
// paths take); one more thread counts what arrives at --to. After printing {"ready": true}
// it waits for a byte on stdin (the caller finishes its setup), and at the
// end prints one JSON line: sent, received, seconds, offered_fps,
// delivered_fps. Not root: exit 77.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backends/nic/nic_backend.h"
#include "bench/bench_support.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/unique_fd.h"
#include "virtio/net_header.h"

namespace vnet::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One end of the pair: an fd, and whether frames on it carry a virtio-net header.
struct Endpoint {
  UniqueFd fd;
  size_t header = 0;
};

Endpoint open_endpoint(const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos) throw Failure{"endpoint '" + spec + "' is not KIND:VALUE"};
  std::string kind = spec.substr(0, colon), value = spec.substr(colon + 1);
  Endpoint end;
  if (kind == "fd") {
    end.fd = UniqueFd(std::atoi(value.c_str()));
    end.header = virtio::kNetHeaderLegacySize;
  } else if (kind == "tap") {
    end.fd = must(tun::open_device());
    must(tun::set_iff(end.fd.get(), value, IFF_TAP | IFF_NO_PI));
  } else if (kind == "packet") {
    end.fd = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    int big = 64 << 20;
    setsockopt(end.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    int on = 1;
    setsockopt(end.fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof(on));
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(if_nametoindex(value.c_str()));
    if (!address.sll_ifindex || bind(end.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0) {
      throw Failure{"binding a packet socket to " + value + ": " + std::strerror(errno)};
    }
  } else if (kind == "udp") {
    end.fd = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int big = 64 << 20;
    setsockopt(end.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(std::atoi(value.c_str())));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(end.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0) {
      throw Failure{"binding a UDP socket to 127.0.0.1:" + value + ": " + std::strerror(errno)};
    }
  } else {
    throw Failure{"endpoint kind '" + kind + "' is not fd, tap, packet or udp"};
  }
  // Reads drain until empty; writes to a tap never wait anyway.
  fcntl(end.fd.get(), F_SETFL, fcntl(end.fd.get(), F_GETFL) | O_NONBLOCK);
  return end;
}

struct Options {
  std::string from, to;
  size_t size = 64;
  double seconds = 2;
  ebpf::Mac dst{0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
  int writers = 1;
};

int run(const Options& o) {
  Endpoint from = open_endpoint(o.from), to = open_endpoint(o.to);
  std::printf("{\"ready\": true}\n");
  std::fflush(stdout);
  char go;
  if (read(0, &go, 1) != 1) throw Failure{"no go on stdin"};

  std::vector<uint8_t> frame(from.header + o.size, 0x5a);
  uint8_t* eth = frame.data() + from.header;
  std::memset(frame.data(), 0, from.header);
  std::memcpy(eth, o.dst.data(), 6);
  const uint8_t source[] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x01, 0x88, 0xb5};
  std::memcpy(eth + 6, source, sizeof(source));

  std::atomic<bool> done{false};
  std::atomic<uint64_t> received{0};
  std::thread reader([&] {
    std::vector<uint8_t> buffer(70000);
    while (true) {
      pollfd ready{to.fd.get(), POLLIN, 0};
      int n = poll(&ready, 1, 50);
      if (n <= 0) {
        if (done) break;
        continue;
      }
      while (read(to.fd.get(), buffer.data(), buffer.size()) > 0) received++;
    }
  });
  std::atomic<uint64_t> sent{0};
  auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  auto write_frames = [&] {
    uint64_t mine = 0;
    while (Clock::now() < end) {
      for (int i = 0; i < 64; i++) {
        if (write(from.fd.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size())) mine++;
      }
    }
    sent += mine;
  };
  std::vector<std::thread> writers;
  for (int i = 1; i < o.writers; i++) writers.emplace_back(write_frames);
  write_frames();
  for (auto& writer : writers) writer.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // frames in flight
  done = true;
  reader.join();
  std::printf("{\"sent\": %llu, \"received\": %llu, \"seconds\": %.3f, \"offered_fps\": %.0f, \"delivered_fps\": %.0f}\n",
              static_cast<unsigned long long>(sent.load()), static_cast<unsigned long long>(received.load()), seconds,
              double(sent.load()) / seconds, double(received.load()) / seconds);
  return 0;
}

}  // namespace
}  // namespace vnet::bench

int main(int argc, char** argv) {
  using namespace vnet::bench;
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--from") o.from = value;
    else if (arg == "--to") o.to = value;
    else if (arg == "--size") o.size = std::strtoul(value.c_str(), nullptr, 10);
    else if (arg == "--seconds") o.seconds = std::atof(value.c_str());
    else if (arg == "--writers") o.writers = std::max(1, std::atoi(value.c_str()));
    else if (arg == "--dst-mac") {
      auto mac = vnet::nic::parse_mac(value);
      if (!mac) {
        std::fprintf(stderr, "tap_pair_load: --dst-mac %s is not a MAC\n", value.c_str());
        return 2;
      }
      o.dst = *mac;
    } else {
      std::fprintf(stderr, "tap_pair_load: unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  if (o.from.empty() || o.to.empty() || o.size < 60) {
    std::fprintf(stderr, "usage: tap_pair_load --from ENDPOINT --to ENDPOINT --size N(>=60) [--seconds S] "
                         "[--dst-mac MAC] [--writers W]\n");
    return 2;
  }
  if (geteuid() != 0) return 77;
  try {
    return run(o);
  } catch (const Failure& f) {
    std::fprintf(stderr, "tap_pair_load: %s\n", f.message.c_str());
    return 1;
  }
}
