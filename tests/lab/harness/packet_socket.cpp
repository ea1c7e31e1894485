#include "tests/lab/harness/packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

namespace vnet::lab {

Result<PacketSocket> PacketSocket::open(const std::string& ifname, uint16_t protocol) {
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!ifindex) return errno_error("if_nametoindex(\"" + ifname + "\")");
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(protocol)));
  if (!fd) return errno_error("socket(AF_PACKET)");
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(protocol);
  addr.sll_ifindex = ifindex;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return errno_error("binding AF_PACKET to \"" + ifname + "\"");
  }
  return PacketSocket(std::move(fd), ifindex);
}

Result<void> PacketSocket::send(const std::vector<uint8_t>& frame) {
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = ifindex_;
  addr.sll_halen = ETH_ALEN;
  if (sendto(fd_.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return errno_error("sending on AF_PACKET");
  }
  return {};
}

Result<std::optional<std::vector<uint8_t>>> PacketSocket::receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<uint8_t> frame(65536);
    sockaddr_ll from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(fd_.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n >= 0) {
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      frame.resize(static_cast<size_t>(n));
      return std::optional<std::vector<uint8_t>>(std::move(frame));
    }
    if (errno != EAGAIN && errno != EINTR) return errno_error("recvfrom on AF_PACKET");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<std::vector<uint8_t>>();
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return errno_error("poll on AF_PACKET");
  }
}

}  // namespace vnet::lab
