#include "kernel_ifaces/packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <string>

namespace vnet::packet {

namespace {

Result<void> enable(int fd, int option, const char* name, int ifindex) {
  int on = 1;
  if (setsockopt(fd, SOL_PACKET, option, &on, sizeof on) < 0) {
    return errno_error(std::string(name) + " on the packet socket of ifindex " + std::to_string(ifindex));
  }
  return {};
}

}  // namespace

Result<UniqueFd> open_host_side(int ifindex, int receive_buffer) {
  // Protocol 0: no frame is queued before bind, so none arrives without
  // the vnet header or from another device.
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("an AF_PACKET socket for ifindex " + std::to_string(ifindex));
  if (auto set = enable(fd.get(), PACKET_VNET_HDR, "PACKET_VNET_HDR", ifindex); !set) return set.take_error();
  if (auto set = enable(fd.get(), PACKET_AUXDATA, "PACKET_AUXDATA", ifindex); !set) return set.take_error();
  if (auto set = enable(fd.get(), PACKET_IGNORE_OUTGOING, "PACKET_IGNORE_OUTGOING", ifindex); !set) {
    return set.take_error();
  }
  // Root may go past net.core.rmem_max; anyone else gets what it allows.
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) < 0) {
    (void)setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    return errno_error("binding a packet socket to ifindex " + std::to_string(ifindex));
  }
  return fd;
}

std::optional<VlanTag> vlan_tag_of(const void* control_message) {
  const auto* cmsg = static_cast<const cmsghdr*>(control_message);
  if (cmsg->cmsg_level != SOL_PACKET || cmsg->cmsg_type != PACKET_AUXDATA ||
      cmsg->cmsg_len < CMSG_LEN(sizeof(tpacket_auxdata))) {
    return std::nullopt;
  }
  tpacket_auxdata aux;
  __builtin_memcpy(&aux, CMSG_DATA(cmsg), sizeof aux);
  if (!(aux.tp_status & TP_STATUS_VLAN_VALID)) return std::nullopt;
  VlanTag tag;
  tag.tci = aux.tp_vlan_tci;
  if (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) tag.tpid = aux.tp_vlan_tpid;
  return tag;
}

}  // namespace vnet::packet
