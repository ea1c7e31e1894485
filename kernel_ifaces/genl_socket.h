// GenlSocket - one generic-netlink family on a libnl socket: its id resolved
// by name, extended acks asked for, and one request at a time with each
// reply message handed over. What every family client (vdpa_genl,
// l2tp_genl) shares; they only fill requests and read attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kernel_ifaces/result.h"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;

namespace vnet::netlink {

class GenlSocket {
 public:
  // Fails with ENOENT when the kernel has no such family (its module absent
  // and not loadable).
  static Result<GenlSocket> connect(const char* family_name, uint8_t version);

  using Fill = std::function<void(nl_msg*)>;
  using Handler = std::function<void(nlmsghdr*)>;
  // One request; each reply message (one, or a dump's many) goes to
  // on_reply. A failure carries the kernel's errno and the reason from its
  // extended ack: `what: No such file or directory (reason)`.
  Result<void> transact(uint8_t command, bool dump, const Fill& fill, const Handler& on_reply,
                        const std::string& what);

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  GenlSocket(nl_sock* sock, int family, uint8_t version) : sock_(sock), family_(family), version_(version) {}

  std::unique_ptr<nl_sock, SockDeleter> sock_;
  int family_;
  uint8_t version_;
};

}  // namespace vnet::netlink
