#include "kernel_ifaces/netlink_extack.h"

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace vnet::netlink {

Result<void> request_extended_acks(int fd, const std::string& what) {
  int on = 1;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on) < 0) {
    return errno_error("setsockopt NETLINK_EXT_ACK on " + what);
  }
  return {};
}

std::string extack_message(const nlmsgerr* err) {
  // The ack's TLVs follow the echoed request (whole, unless NLM_F_CAPPED), as
  // netlink_ack() in net/netlink/af_netlink.c lays them out.
  auto* header = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  size_t offset = sizeof *err;
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += NLMSG_ALIGN(err->msg.nlmsg_len - NLMSG_HDRLEN);
  int length = nlmsg_datalen(const_cast<nlmsghdr*>(header));
  if (offset >= static_cast<size_t>(length)) return "";
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  auto* attrs = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(err)) + offset);
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, length - static_cast<int>(offset), nullptr) != 0 ||
      !tb[NLMSGERR_ATTR_MSG]) {
    return "";
  }
  return nla_get_string(tb[NLMSGERR_ATTR_MSG]);
}

}  // namespace vnet::netlink
