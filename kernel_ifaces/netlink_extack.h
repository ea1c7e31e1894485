// netlink_extack - the kernel's reason with a netlink error. With
// NETLINK_EXT_ACK set on a socket, an error ack carries NLMSGERR_ATTR_MSG
// ("Can not enslave a bridge to a bridge"), which says more than the errno;
// libnl 3.7 neither asks for it nor reads it.
#pragma once

#include <linux/netlink.h>

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::netlink {

// Asks the kernel for extended acks on the netlink socket fd.
Result<void> request_extended_acks(int fd, const std::string& what);

// The reason in an error ack (its NLMSGERR_ATTR_MSG), "" when it has none.
// `err` is the payload of an NLMSG_ERROR message, as libnl's error callback
// gets it: the message header is right before it.
std::string extack_message(const nlmsgerr* err);

}  // namespace vnet::netlink
