// relay_load - the load side of bench/datapath_relay.py: a UDP frame
// generator and sink in one thread (so that a relay under test has the other
// core), and the plain recvmmsg/sendmmsg relay that is the limit any relay is
// measured against.
//
//   relay_load load --to PORT --sink PORT --size N [--rate FPS] [--seconds S]
//                   [--l2tpv3-session ID]    (prefix each frame as QEMU's l2tpv3 udp: 00 03 00 00, session, counter 0)
//     Sends frames of N bytes (an Ethernet frame, its sequence number in its
//     last 8 bytes) to 127.0.0.1:PORT, as fast as it can or paced at FPS, for
//     S seconds, while counting what arrives on 127.0.0.1:SINK; then drains
//     for 300 ms and prints one JSON line: sent, received, seconds, rates, loss.
//   relay_load relay --in PORT --out PORT
//     Forwards every datagram arriving on 127.0.0.1:IN to 127.0.0.1:OUT,
//     batches of up to 64 each way, until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBatch = 64;

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int udp_socket(int bind_port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("socket");
    std::exit(1);
  }
  int size = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  if (bind_port) {
    sockaddr_in address = loopback(bind_port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
      std::fprintf(stderr, "bind 127.0.0.1:%d: %s\n", bind_port, std::strerror(errno));
      std::exit(1);
    }
  }
  return fd;
}

struct Options {
  std::string mode;
  int to = 0, sink = 0, in = 0, out = 0, size = 64;
  double rate = 0, seconds = 2;
  long long session = -1;
};

Options parse(int argc, char** argv) {
  Options options;
  if (argc < 2) {
    std::fprintf(stderr, "usage: relay_load load|relay ...\n");
    std::exit(2);
  }
  options.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--to") options.to = std::atoi(value);
    else if (key == "--sink") options.sink = std::atoi(value);
    else if (key == "--in") options.in = std::atoi(value);
    else if (key == "--out") options.out = std::atoi(value);
    else if (key == "--size") options.size = std::atoi(value);
    else if (key == "--rate") options.rate = std::atof(value);
    else if (key == "--seconds") options.seconds = std::atof(value);
    else if (key == "--l2tpv3-session") options.session = std::strtoll(value, nullptr, 0);
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      std::exit(2);
    }
  }
  return options;
}

// Receives whatever is waiting on fd; returns how many datagrams.
int drain(int fd, std::vector<mmsghdr>& messages) {
  int total = 0;
  for (;;) {
    int got = recvmmsg(fd, messages.data(), static_cast<unsigned>(messages.size()), MSG_DONTWAIT, nullptr);
    if (got <= 0) return total;
    total += got;
  }
}

int run_load(const Options& options) {
  int sender = udp_socket(0), sink = udp_socket(options.sink);
  sockaddr_in destination = loopback(options.to);
  size_t header = options.session >= 0 ? 12 : 0;
  size_t length = header + static_cast<size_t>(options.size);
  std::vector<std::vector<uint8_t>> frames(kBatch, std::vector<uint8_t>(length, 0x5a));
  std::vector<iovec> send_parts(kBatch);
  std::vector<mmsghdr> sends(kBatch);
  for (int i = 0; i < kBatch; i++) {
    auto& frame = frames[i];
    if (header) {
      uint32_t words[3] = {htonl(0x00030000), htonl(static_cast<uint32_t>(options.session)), 0};
      std::memcpy(frame.data(), words, sizeof words);
    }
    uint8_t ethernet[14] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5};
    std::memcpy(frame.data() + header, ethernet, sizeof ethernet);
    send_parts[i] = {frame.data(), frame.size()};
    sends[i].msg_hdr.msg_iov = &send_parts[i];
    sends[i].msg_hdr.msg_iovlen = 1;
    sends[i].msg_hdr.msg_name = &destination;
    sends[i].msg_hdr.msg_namelen = sizeof destination;
  }
  std::vector<uint8_t> receive_space(kBatch * 2048);
  std::vector<iovec> receive_parts(kBatch);
  std::vector<mmsghdr> receives(kBatch);
  for (int i = 0; i < kBatch; i++) {
    receive_parts[i] = {receive_space.data() + i * 2048, 2048};
    receives[i].msg_hdr.msg_iov = &receive_parts[i];
    receives[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, received = 0, sequence = 0;
  auto start = Clock::now();
  auto end = start + std::chrono::duration<double>(options.seconds);
  // Paced: bursts of 16, each sent when its time has come.
  constexpr int kPacedBurst = 16;
  for (auto now = start; now < end; now = Clock::now()) {
    int burst = kBatch;
    if (options.rate > 0) {
      double due = std::chrono::duration<double>(now - start).count() * options.rate;
      if (static_cast<double>(sent) + kPacedBurst > due) {
        received += drain(sink, receives);
        continue;
      }
      burst = kPacedBurst;
    }
    for (int i = 0; i < burst; i++) {
      sequence++;
      std::memcpy(frames[i].data() + length - 8, &sequence, 8);
    }
    int done = 0;
    while (done < burst) {
      int n = sendmmsg(sender, sends.data() + done, static_cast<unsigned>(burst - done), 0);
      if (n <= 0) break;
      done += n;
    }
    sent += done;
    received += drain(sink, receives);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto settle = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < settle) {
    pollfd ready{sink, POLLIN, 0};
    poll(&ready, 1, 20);
    received += drain(sink, receives);
  }
  std::printf("{\"sent\": %llu, \"received\": %llu, \"seconds\": %.4f, \"offered_fps\": %.0f, \"delivered_fps\": %.0f, "
              "\"loss\": %.6f}\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received), seconds,
              static_cast<double>(sent) / seconds, static_cast<double>(received) / seconds,
              sent ? 1.0 - static_cast<double>(received) / static_cast<double>(sent) : 0.0);
  return 0;
}

int run_relay(const Options& options) {
  int in = udp_socket(options.in), out = udp_socket(0);
  sockaddr_in destination = loopback(options.out);
  std::vector<uint8_t> space(kBatch * 2048);
  std::vector<iovec> parts(kBatch);
  std::vector<mmsghdr> messages(kBatch);
  for (;;) {
    for (int i = 0; i < kBatch; i++) {
      parts[i] = {space.data() + i * 2048, 2048};
      messages[i].msg_hdr = {};
      messages[i].msg_hdr.msg_iov = &parts[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(in, messages.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (got <= 0) continue;
    for (int i = 0; i < got; i++) {
      parts[i].iov_len = messages[i].msg_len;
      messages[i].msg_hdr.msg_name = &destination;
      messages[i].msg_hdr.msg_namelen = sizeof destination;
    }
    int done = 0;
    while (done < got) {
      int n = sendmmsg(out, messages.data() + done, static_cast<unsigned>(got - done), 0);
      if (n <= 0) break;
      done += n;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  if (options.mode == "load") return run_load(options);
  if (options.mode == "relay") return run_relay(options);
  std::fprintf(stderr, "unknown mode %s\n", options.mode.c_str());
  return 2;
}
