#include "kernel_ifaces/vdpa_genl.h"

#include <linux/netlink.h>
#include <linux/vdpa.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <functional>

#include "kernel_ifaces/netlink_extack.h"
#include "kernel_ifaces/rtnl.h"  // nl_error

namespace vnet::vdpa {

namespace {

using Attrs = std::array<nlattr*, VDPA_ATTR_MAX + 1>;
using Handler = std::function<void(const Attrs&, nlmsghdr*)>;

struct MsgDeleter {
  void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;

std::string str(nlattr* a) { return a ? nla_get_string(a) : ""; }

template <typename T>
std::optional<T> opt(nlattr* a, T (*get)(const nlattr*)) {
  if (!a) return std::nullopt;
  return get(a);
}

// The handle [bus/]name goes in as two attributes, as iproute2 sends it.
void put_mgmtdev(nl_msg* msg, const std::string& handle) {
  auto slash = handle.find('/');
  if (slash == std::string::npos) {
    nla_put_string(msg, VDPA_ATTR_MGMTDEV_DEV_NAME, handle.c_str());
  } else {
    nla_put_string(msg, VDPA_ATTR_MGMTDEV_BUS_NAME, handle.substr(0, slash).c_str());
    nla_put_string(msg, VDPA_ATTR_MGMTDEV_DEV_NAME, handle.substr(slash + 1).c_str());
  }
}

std::string mgmtdev_handle(const Attrs& tb) {
  std::string bus = str(tb[VDPA_ATTR_MGMTDEV_BUS_NAME]);
  std::string name = str(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]);
  return bus.empty() ? name : bus + "/" + name;
}

int on_valid(nl_msg* msg, void* arg) {
  auto* handler = static_cast<Handler*>(arg);
  nlmsghdr* header = nlmsg_hdr(msg);
  Attrs tb{};
  if (genlmsg_parse(header, 0, tb.data(), VDPA_ATTR_MAX, nullptr) < 0) return NL_SKIP;
  (*handler)(tb, header);
  return NL_OK;
}

}  // namespace

void Genl::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

Result<Genl> Genl::connect() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Error{ENOMEM, "nl_socket_alloc"};
  Genl genl(sock, 0);
  if (int err = genl_connect(sock); err < 0) return rtnl::nl_error(err, "connecting to generic netlink");
  int family = genl_ctrl_resolve(sock, VDPA_GENL_NAME);
  if (family < 0) {
    return Error{ENOENT, "generic netlink family \"vdpa\" not found (is the vdpa module loaded?): " +
                             std::string(nl_geterror(family))};
  }
  genl.family_ = family;
  // Ask for the kernel's reasons with its errors (read by on_error()).
  if (auto asked = netlink::request_extended_acks(nl_socket_get_fd(sock), "the generic netlink socket"); !asked) {
    return asked.take_error();
  }
  return genl;
}

namespace {

// What the kernel answered besides data: its errno and, with NETLINK_EXT_ACK,
// its reason ("vdpa: Fail to find the specified management device"), which
// libnl 3.7 neither maps faithfully (ENOENT becomes NLE_OBJ_NOTFOUND) nor
// reads.
struct Outcome {
  Handler* handler = nullptr;
  bool done = false;
  int kernel_errno = 0;
  std::string reason;
};

int on_reply(nl_msg* msg, void* arg) { return on_valid(msg, static_cast<Outcome*>(arg)->handler); }

int on_done(nl_msg*, void* arg) {
  static_cast<Outcome*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* outcome = static_cast<Outcome*>(arg);
  outcome->kernel_errno = -err->error;
  outcome->reason = netlink::extack_message(err);
  return NL_STOP;
}

// One request; each reply message (one, or a dump's many) goes to handler.
// A dump ends with NLMSG_DONE; a get has one reply, then the ack nl_send_auto
// asked for; a new/del only the ack; any of them may end in an error instead.
Result<void> transact(nl_sock* sock, int family, uint8_t command, bool dump,
                      const std::function<void(nl_msg*)>& fill, Handler handler, const std::string& what) {
  MsgPtr msg(nlmsg_alloc());
  if (!msg) return Error{ENOMEM, "nlmsg_alloc"};
  if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, dump ? NLM_F_DUMP : 0, command,
                   VDPA_GENL_VERSION)) {
    return Error{ENOMEM, "genlmsg_put"};
  }
  if (fill) fill(msg.get());
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> callbacks(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
  if (!callbacks) return Error{ENOMEM, "nl_cb_alloc"};
  Outcome outcome;
  outcome.handler = &handler;
  nl_cb_set(callbacks.get(), NL_CB_VALID, NL_CB_CUSTOM, on_reply, &outcome);
  nl_cb_set(callbacks.get(), NL_CB_ACK, NL_CB_CUSTOM, on_done, &outcome);
  nl_cb_set(callbacks.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_done, &outcome);
  nl_cb_err(callbacks.get(), NL_CB_CUSTOM, on_error, &outcome);
  if (int err = nl_send_auto(sock, msg.get()); err < 0) return rtnl::nl_error(err, what);
  while (!outcome.done) {
    int err = nl_recvmsgs(sock, callbacks.get());
    if (outcome.kernel_errno) {
      Error error = Error::from_errno(outcome.kernel_errno, what);
      if (!outcome.reason.empty()) error.message += " (" + outcome.reason + ")";
      return error;
    }
    if (err < 0) return rtnl::nl_error(err, what);
  }
  return {};
}

// A get of one device by name, or a dump of all when name is empty.
std::function<void(nl_msg*)> device_filter(const std::string& name) {
  return [name](nl_msg* msg) {
    if (!name.empty()) nla_put_string(msg, VDPA_ATTR_DEV_NAME, name.c_str());
  };
}

std::string about(const char* command, const std::string& name) {
  return command + (name.empty() ? std::string() : " of \"" + name + "\"");
}

}  // namespace

Result<std::vector<MgmtDev>> Genl::mgmtdevs(const std::string& handle) {
  std::vector<MgmtDev> out;
  auto fill = [&](nl_msg* msg) {
    if (!handle.empty()) put_mgmtdev(msg, handle);
  };
  auto done = transact(sock_.get(), family_, VDPA_CMD_MGMTDEV_GET, handle.empty(), fill,
                       [&](const Attrs& tb, nlmsghdr*) {
                         MgmtDev dev;
                         dev.bus = str(tb[VDPA_ATTR_MGMTDEV_BUS_NAME]);
                         dev.name = str(tb[VDPA_ATTR_MGMTDEV_DEV_NAME]);
                         dev.classes = opt(tb[VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES], nla_get_u64);
                         dev.max_vqs = opt(tb[VDPA_ATTR_DEV_MGMTDEV_MAX_VQS], nla_get_u32);
                         dev.features = opt(tb[VDPA_ATTR_DEV_SUPPORTED_FEATURES], nla_get_u64);
                         out.push_back(std::move(dev));
                       },
                       about("VDPA_CMD_MGMTDEV_GET", handle));
  if (!done) return done.take_error();
  return out;
}

Result<std::vector<Device>> Genl::devices(const std::string& name) {
  std::vector<Device> out;
  auto done = transact(sock_.get(), family_, VDPA_CMD_DEV_GET, name.empty(), device_filter(name),
                       [&](const Attrs& tb, nlmsghdr*) {
                         Device dev;
                         dev.name = str(tb[VDPA_ATTR_DEV_NAME]);
                         dev.mgmtdev = mgmtdev_handle(tb);
                         dev.device_id = tb[VDPA_ATTR_DEV_ID] ? nla_get_u32(tb[VDPA_ATTR_DEV_ID]) : 0;
                         dev.vendor_id = opt(tb[VDPA_ATTR_DEV_VENDOR_ID], nla_get_u32);
                         dev.max_vqs = opt(tb[VDPA_ATTR_DEV_MAX_VQS], nla_get_u32);
                         dev.max_vq_size = opt(tb[VDPA_ATTR_DEV_MAX_VQ_SIZE], nla_get_u16);
                         dev.min_vq_size = opt(tb[VDPA_ATTR_DEV_MIN_VQ_SIZE], nla_get_u16);
                         out.push_back(std::move(dev));
                       },
                       about("VDPA_CMD_DEV_GET", name));
  if (!done) return done.take_error();
  return out;
}

Result<std::vector<NetConfig>> Genl::configs(const std::string& name) {
  std::vector<NetConfig> out;
  auto done = transact(sock_.get(), family_, VDPA_CMD_DEV_CONFIG_GET, name.empty(), device_filter(name),
                       [&](const Attrs& tb, nlmsghdr*) {
                         NetConfig config;
                         config.name = str(tb[VDPA_ATTR_DEV_NAME]);
                         config.device_id = tb[VDPA_ATTR_DEV_ID] ? nla_get_u32(tb[VDPA_ATTR_DEV_ID]) : 0;
                         if (nlattr* a = tb[VDPA_ATTR_DEV_NET_CFG_MACADDR]; a && nla_len(a) == 6) {
                           Mac mac;
                           nla_memcpy(mac.data(), a, 6);
                           config.mac = mac;
                         }
                         config.status = opt(tb[VDPA_ATTR_DEV_NET_STATUS], nla_get_u16);
                         config.max_vqp = opt(tb[VDPA_ATTR_DEV_NET_CFG_MAX_VQP], nla_get_u16);
                         config.mtu = opt(tb[VDPA_ATTR_DEV_NET_CFG_MTU], nla_get_u16);
                         config.negotiated_features = opt(tb[VDPA_ATTR_DEV_NEGOTIATED_FEATURES], nla_get_u64);
                         out.push_back(std::move(config));
                       },
                       about("VDPA_CMD_DEV_CONFIG_GET", name));
  if (!done) return done.take_error();
  return out;
}

Result<QueueStats> Genl::vstats(const std::string& name, uint32_t queue_index) {
  QueueStats stats;
  stats.name = name;
  stats.queue_index = queue_index;
  auto fill = [&](nl_msg* msg) {
    nla_put_string(msg, VDPA_ATTR_DEV_NAME, name.c_str());
    nla_put_u32(msg, VDPA_ATTR_DEV_QUEUE_INDEX, queue_index);
  };
  auto done = transact(sock_.get(), family_, VDPA_CMD_DEV_VSTATS_GET, false, fill,
                       [&](const Attrs& tb, nlmsghdr* header) {
                         stats.max_vqp = opt(tb[VDPA_ATTR_DEV_NET_CFG_MAX_VQP], nla_get_u16);
                         stats.negotiated_features = opt(tb[VDPA_ATTR_DEV_NEGOTIATED_FEATURES], nla_get_u64);
                         // Name/value pairs repeat: walk them in order.
                         nlattr* attr;
                         int left;
                         std::string pending;
                         nla_for_each_attr(attr, genlmsg_attrdata(static_cast<genlmsghdr*>(nlmsg_data(header)), 0),
                                           genlmsg_attrlen(static_cast<genlmsghdr*>(nlmsg_data(header)), 0), left) {
                           if (nla_type(attr) == VDPA_ATTR_DEV_VENDOR_ATTR_NAME) pending = nla_get_string(attr);
                           if (nla_type(attr) == VDPA_ATTR_DEV_VENDOR_ATTR_VALUE) {
                             stats.vendor.emplace_back(pending, nla_get_u64(attr));
                           }
                         }
                       },
                       "VDPA_CMD_DEV_VSTATS_GET of \"" + name + "\" queue " + std::to_string(queue_index));
  if (!done) return done.take_error();
  return stats;
}

Result<void> Genl::add(const NewDevice& device) {
  auto fill = [&](nl_msg* msg) {
    put_mgmtdev(msg, device.mgmtdev);
    nla_put_string(msg, VDPA_ATTR_DEV_NAME, device.name.c_str());
    if (device.mac) nla_put(msg, VDPA_ATTR_DEV_NET_CFG_MACADDR, 6, device.mac->data());
    if (device.mtu) nla_put_u16(msg, VDPA_ATTR_DEV_NET_CFG_MTU, *device.mtu);
    if (device.max_vqp) nla_put_u16(msg, VDPA_ATTR_DEV_NET_CFG_MAX_VQP, *device.max_vqp);
  };
  return transact(sock_.get(), family_, VDPA_CMD_DEV_NEW, false, fill, [](const Attrs&, nlmsghdr*) {},
                  "VDPA_CMD_DEV_NEW of \"" + device.name + "\" on \"" + device.mgmtdev + "\"");
}

Result<void> Genl::remove(const std::string& name) {
  auto fill = [&](nl_msg* msg) { nla_put_string(msg, VDPA_ATTR_DEV_NAME, name.c_str()); };
  return transact(sock_.get(), family_, VDPA_CMD_DEV_DEL, false, fill, [](const Attrs&, nlmsghdr*) {},
                  "VDPA_CMD_DEV_DEL of \"" + name + "\"");
}

std::optional<Mac> parse_mac(const std::string& text) {
  // Exactly "xx:xx:xx:xx:xx:xx": sscanf's %x would also take signs and spaces.
  if (text.size() != 17) return std::nullopt;
  Mac mac;
  for (size_t i = 0; i < 6; i++) {
    const char* pair = text.c_str() + 3 * i;
    if (!std::isxdigit(static_cast<unsigned char>(pair[0])) || !std::isxdigit(static_cast<unsigned char>(pair[1])) ||
        (i < 5 && pair[2] != ':')) {
      return std::nullopt;
    }
    mac[i] = static_cast<uint8_t>(std::stoul(std::string(pair, 2), nullptr, 16));
  }
  return mac;
}

}  // namespace vnet::vdpa
