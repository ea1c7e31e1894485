// vhost_user_load - the load side of bench/vhost_user_relay.py: frames as a
// guest sends them, at the rate a front end can make them available.
//
//   vhost_user_load vhost-user --socket PATH --sink PORT --size N [--seconds S]
//     A VM-free vhost-user front end in C++: guest memory in a memfd, the TX
//     ring (256 entries) kept full of N-byte frames behind a virtio-net
//     header, one kick per refill; the RX ring has no buffers (the bench
//     measures one direction).
//   vhost_user_load tap --ifname NAME --sink PORT --size N [--seconds S]
//     A VMM's tap (made here, IFF_TAP): each frame written into it, one
//     write() per frame, as a VMM without vhost does.
//   vhost_user_load tap --fd N --sink PORT --size N [--seconds S]
//     The same into an inherited tap queue fd with a virtio-net header (a
//     nic's own tap on a hub, from netdev-get-fds): a zero header per frame.
// Both count what arrives on 127.0.0.1:SINK (a socket netdev's datagrams, one
// per frame) for S seconds, drain 300 ms, and print one JSON line: sent,
// received, seconds, rates. Not root: exit 77.
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/vhost_user/vhost_user_message.h"
#include "bench/bench_support.h"
#include "kernel_ifaces/scm_rights.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/unique_fd.h"
#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"
#include "virtio/net_header.h"

namespace vnet::bench {
namespace {

using namespace vnet::vhost_user;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kRingSize = 256;
constexpr uint64_t kGpaBase = 0x40000000;
constexpr size_t kMemory = 16 << 20;

struct Options {
  std::string mode, socket, ifname;
  int tap_fd = -1;  // an inherited queue with vnet headers, instead of ifname
  int sink = 0;
  size_t size = 64;
  double seconds = 3;
};

// The sink: a UDP socket on 127.0.0.1:port, counted without copying out.
class Sink {
 public:
  explicit Sink(int port) : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int big = 64 << 20;
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0) {
      throw Failure{"binding the sink: " + std::string(std::strerror(errno))};
    }
  }
  int fd() const { return fd_.get(); }
  // What arrives until `wait` has passed: the frames still in flight at the end.
  uint64_t drain_for(std::chrono::milliseconds wait) {
    uint64_t got = 0;
    for (auto end = Clock::now() + wait; Clock::now() < end;) {
      got += drain();
      pollfd fd{fd_.get(), POLLIN, 0};
      poll(&fd, 1, 20);
    }
    return got;
  }
  uint64_t drain() {
    mmsghdr messages[64]{};
    char buffers[64][64];
    iovec iov[64];
    for (int i = 0; i < 64; i++) {
      iov[i] = {buffers[i], sizeof(buffers[i])};
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t got = 0;
    for (;;) {
      int n = recvmmsg(fd_.get(), messages, 64, MSG_DONTWAIT | MSG_TRUNC, nullptr);
      if (n <= 0) return got;
      got += static_cast<uint64_t>(n);
    }
  }

 private:
  UniqueFd fd_;
};

// Broadcast, IEEE local experimental ethertype 0x88b5: a bridge floods it and
// no stack or br_netfilter looks into it on the tap path.
std::vector<uint8_t> make_frame(size_t size) {
  std::vector<uint8_t> frame(size, 0x5a);
  const uint8_t head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xb5};
  std::memcpy(frame.data(), head, sizeof(head));
  return frame;
}

// One request; with want_reply, the reply's payload.
class Connection {
 public:
  explicit Connection(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0) {
      throw Failure{"connecting to " + path + ": " + std::strerror(errno)};
    }
  }
  std::vector<uint8_t> request(uint32_t request, std::span<const uint8_t> payload, std::span<const int> fds = {},
                               bool want_reply = false) {
    auto bytes = encode_message(request, 0, payload);
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto sent = scm::send(fd_.get(), text, fds);
    if (!sent || *sent != bytes.size()) throw Failure{"sending " + request_name(request)};
    if (!want_reply) return {};
    uint8_t header[kHeaderSize];
    read_all(header, sizeof(header));
    uint32_t size;
    std::memcpy(&size, header + 8, 4);
    std::vector<uint8_t> reply(size);
    read_all(reply.data(), size);
    return reply;
  }
  uint64_t get_u64(uint32_t which) {
    auto reply = request(which, {}, {}, true);
    uint64_t value = 0;
    std::memcpy(&value, reply.data(), std::min<size_t>(8, reply.size()));
    return value;
  }

 private:
  void read_all(uint8_t* out, size_t n) {
    while (n > 0) {
      ssize_t got = read(fd_.get(), out, n);
      if (got <= 0) throw Failure{"the back end closed the connection"};
      out += got;
      n -= static_cast<size_t>(got);
    }
  }
  UniqueFd fd_;
};

struct Counts {
  uint64_t sent = 0, received = 0;
  double seconds = 0;
};

Counts run_vhost_user(const Options& o, Sink& sink) {
  auto memory = must(virtio::GuestMemory::create(kMemory, kGpaBase));
  Connection vu(o.socket);
  uint64_t offered = vu.get_u64(VHOST_USER_GET_FEATURES);
  uint64_t features = offered & ((uint64_t{1} << virtio::kFVersion1) | (uint64_t{1} << VHOST_USER_F_PROTOCOL_FEATURES));
  if (features & (uint64_t{1} << VHOST_USER_F_PROTOCOL_FEATURES)) {
    (void)vu.get_u64(VHOST_USER_GET_PROTOCOL_FEATURES);
    vu.request(VHOST_USER_SET_PROTOCOL_FEATURES, encode_u64(0));
  }
  vu.request(VHOST_USER_SET_OWNER, {});
  vu.request(VHOST_USER_SET_FEATURES, encode_u64(features));
  const RegionDescription region{kGpaBase, kMemory, memory->userspace_addr(), 0};
  const int memfd = memory->fd();
  vu.request(VHOST_USER_SET_MEM_TABLE, encode_memory_table({&region, 1}), {&memfd, 1});
  auto tx = must(virtio::SplitQueue::create(*memory, kRingSize));
  UniqueFd kick(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), call(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  const uint32_t ring = 1;
  vu.request(VHOST_USER_SET_VRING_NUM, encode_vring_state({ring, kRingSize}));
  vu.request(VHOST_USER_SET_VRING_BASE, encode_vring_state({ring, 0}));
  vu.request(VHOST_USER_SET_VRING_ADDR, encode_vring_addr({ring, 0, tx.desc_user_addr(), tx.used_user_addr(),
                                                           tx.avail_user_addr(), 0}));
  const int kick_fd = kick.get(), call_fd = call.get();
  vu.request(VHOST_USER_SET_VRING_KICK, encode_u64(ring), {&kick_fd, 1});
  vu.request(VHOST_USER_SET_VRING_CALL, encode_u64(ring), {&call_fd, 1});
  if (features & (uint64_t{1} << VHOST_USER_F_PROTOCOL_FEATURES)) {
    vu.request(VHOST_USER_SET_VRING_ENABLE, encode_vring_state({ring, 1}));
  }
  // Every buffer holds the header and the frame, written once: what a guest
  // driver does per frame is the ring update, not the copy.
  const size_t header = (features >> virtio::kFVersion1) & 1 ? sizeof(virtio::NetHeader) : virtio::kNetHeaderLegacySize;
  const auto frame = make_frame(o.size);
  std::vector<uint64_t> buffers;
  for (uint16_t id = 0; id < kRingSize; id++) {
    uint64_t gpa = must(memory->allocate(header + frame.size(), 64));
    std::memset(memory->host(gpa, header), 0, header);
    std::memcpy(memory->host(gpa + header, frame.size()), frame.data(), frame.size());
    buffers.push_back(gpa);
  }
  Counts counts;
  const uint32_t length = static_cast<uint32_t>(header + frame.size());
  for (uint16_t id = 0; id < kRingSize; id++) tx.make_available(id, buffers[id], length, false);
  (void)eventfd_write(kick.get(), 1);
  auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  while (Clock::now() < end) {
    unsigned refilled = 0;
    while (auto used = tx.take_used()) {
      counts.sent++;
      tx.make_available(used->id, buffers[used->id], length, false);
      refilled++;
    }
    if (refilled) (void)eventfd_write(kick.get(), 1);
    counts.received += sink.drain();
    if (!refilled) {
      pollfd fds[] = {{call.get(), POLLIN, 0}, {sink.fd(), POLLIN, 0}};
      poll(fds, 2, 10);
      eventfd_t value;
      (void)eventfd_read(call.get(), &value);
    }
  }
  counts.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  counts.received += sink.drain_for(std::chrono::milliseconds(300));
  return counts;
}

Counts run_tap(const Options& o, Sink& sink) {
  UniqueFd tap;
  if (o.tap_fd >= 0) {
    tap = UniqueFd(o.tap_fd);
  } else {
    tap = must(tun::open_device());
    must(tun::set_iff(tap.get(), o.ifname, IFF_TAP | IFF_NO_PI));
  }
  // The caller enslaves it and brings it up, then writes a byte to our stdin.
  std::printf("{\"ready\": true}\n");
  std::fflush(stdout);
  char go;
  if (read(0, &go, 1) != 1) throw Failure{"no go on stdin"};
  auto frame = make_frame(o.size);
  if (o.tap_fd >= 0) frame.insert(frame.begin(), virtio::kNetHeaderLegacySize, 0);
  Counts counts;
  auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  while (Clock::now() < end) {
    for (int i = 0; i < 64; i++) {
      if (write(tap.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size())) counts.sent++;
    }
    counts.received += sink.drain();
  }
  counts.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  counts.received += sink.drain_for(std::chrono::milliseconds(300));
  return counts;
}

int run(const Options& o) {
  Sink sink(o.sink);
  Counts c = o.mode == "tap" ? run_tap(o, sink) : run_vhost_user(o, sink);
  std::printf("{\"sent\": %llu, \"received\": %llu, \"seconds\": %.3f, \"offered_fps\": %.0f, \"delivered_fps\": %.0f}\n",
              static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.received), c.seconds,
              double(c.sent) / c.seconds, double(c.received) / c.seconds);
  return 0;
}

}  // namespace
}  // namespace vnet::bench

int main(int argc, char** argv) {
  using namespace vnet::bench;
  Options o;
  if (argc < 2) {
    std::fprintf(stderr, "usage: vhost_user_load vhost-user|tap --socket PATH|--ifname NAME --sink PORT --size N "
                         "[--seconds S]\n");
    return 2;
  }
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--socket") o.socket = value;
    else if (arg == "--ifname") o.ifname = value;
    else if (arg == "--fd") o.tap_fd = std::atoi(value.c_str());
    else if (arg == "--sink") o.sink = std::atoi(value.c_str());
    else if (arg == "--size") o.size = std::strtoul(value.c_str(), nullptr, 10);
    else if (arg == "--seconds") o.seconds = std::atof(value.c_str());
    else {
      std::fprintf(stderr, "vhost_user_load: unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  if (geteuid() != 0) return 77;
  try {
    return run(o);
  } catch (const Failure& f) {
    std::fprintf(stderr, "vhost_user_load: %s\n", f.message.c_str());
    return 1;
  }
}
