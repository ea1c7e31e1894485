#include "kernel_ifaces/genl_socket.h"

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <cerrno>

#include "kernel_ifaces/netlink_extack.h"
#include "kernel_ifaces/rtnl.h"  // nl_error

namespace vnet::netlink {

namespace {

struct MsgDeleter {
  void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;

// What the kernel answered besides data: its errno and, with NETLINK_EXT_ACK,
// its reason ("vdpa: Fail to find the specified management device"), which
// libnl 3.7 neither maps faithfully (ENOENT becomes NLE_OBJ_NOTFOUND) nor
// reads.
struct Outcome {
  const GenlSocket::Handler* handler = nullptr;
  bool done = false;
  int kernel_errno = 0;
  std::string reason;
};

int on_valid(nl_msg* msg, void* arg) {
  (*static_cast<Outcome*>(arg)->handler)(nlmsg_hdr(msg));
  return NL_OK;
}

int on_done(nl_msg*, void* arg) {
  static_cast<Outcome*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* outcome = static_cast<Outcome*>(arg);
  outcome->kernel_errno = -err->error;
  outcome->reason = extack_message(err);
  return NL_STOP;
}

}  // namespace

void GenlSocket::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

Result<GenlSocket> GenlSocket::connect(const char* family_name, uint8_t version) {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Error{ENOMEM, "nl_socket_alloc"};
  GenlSocket genl(sock, 0, version);
  if (int err = genl_connect(sock); err < 0) return rtnl::nl_error(err, "connecting to generic netlink");
  // The kernel loads a family's module on this lookup when it can.
  int family = genl_ctrl_resolve(sock, family_name);
  if (family < 0) {
    return Error{ENOENT, std::string("generic netlink family \"") + family_name + "\" not found: " +
                             std::string(nl_geterror(family))};
  }
  genl.family_ = family;
  if (auto asked = request_extended_acks(nl_socket_get_fd(sock), "the generic netlink socket"); !asked) {
    return asked.take_error();
  }
  return genl;
}

// A dump ends with NLMSG_DONE; a get has one reply, then the ack nl_send_auto
// asked for; a new/del only the ack; any of them may end in an error instead.
Result<void> GenlSocket::transact(uint8_t command, bool dump, const Fill& fill, const Handler& on_reply,
                                  const std::string& what) {
  MsgPtr msg(nlmsg_alloc());
  if (!msg) return Error{ENOMEM, "nlmsg_alloc"};
  if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, dump ? NLM_F_DUMP : 0, command, version_)) {
    return Error{ENOMEM, "genlmsg_put"};
  }
  if (fill) fill(msg.get());
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> callbacks(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
  if (!callbacks) return Error{ENOMEM, "nl_cb_alloc"};
  Outcome outcome;
  Handler ignore = [](nlmsghdr*) {};
  outcome.handler = on_reply ? &on_reply : &ignore;
  nl_cb_set(callbacks.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &outcome);
  nl_cb_set(callbacks.get(), NL_CB_ACK, NL_CB_CUSTOM, on_done, &outcome);
  nl_cb_set(callbacks.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_done, &outcome);
  nl_cb_err(callbacks.get(), NL_CB_CUSTOM, on_error, &outcome);
  if (int err = nl_send_auto(sock_.get(), msg.get()); err < 0) return rtnl::nl_error(err, what);
  while (!outcome.done) {
    int err = nl_recvmsgs(sock_.get(), callbacks.get());
    if (outcome.kernel_errno) {
      Error error = Error::from_errno(outcome.kernel_errno, what);
      if (!outcome.reason.empty()) error.message += " (" + outcome.reason + ")";
      return error;
    }
    if (err < 0) return rtnl::nl_error(err, what);
  }
  return {};
}

}  // namespace vnet::netlink
