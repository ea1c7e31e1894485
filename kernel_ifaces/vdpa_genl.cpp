#include "kernel_ifaces/vdpa_genl.h"

#include <linux/netlink.h>
#include <linux/vdpa.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <functional>

#include "kernel_ifaces/mac.h"
#include "kernel_ifaces/genl_socket.h"

namespace vnet::vdpa {

namespace {

using Attrs = std::array<nlattr*, VDPA_ATTR_MAX + 1>;
using Handler = std::function<void(const Attrs&, nlmsghdr*)>;

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

// One request; each reply's attributes go to handler, parsed, with its
// header for what repeats.
Result<void> transact(netlink::GenlSocket& socket, uint8_t command, bool dump,
                      const std::function<void(nl_msg*)>& fill, const Handler& handler, const std::string& what) {
  auto on_reply = [&handler](nlmsghdr* header) {
    Attrs tb{};
    if (genlmsg_parse(header, 0, tb.data(), VDPA_ATTR_MAX, nullptr) < 0) return;
    handler(tb, header);
  };
  return socket.transact(command, dump, fill, on_reply, what);
}

}  // namespace

Result<Genl> Genl::connect() {
  auto socket = netlink::GenlSocket::connect(VDPA_GENL_NAME, VDPA_GENL_VERSION);
  if (!socket) return socket.take_error();
  return Genl(std::move(*socket));
}

namespace {

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
  auto done = transact(socket_, VDPA_CMD_MGMTDEV_GET, handle.empty(), fill,
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
  auto done = transact(socket_, VDPA_CMD_DEV_GET, name.empty(), device_filter(name),
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
  auto done = transact(socket_, VDPA_CMD_DEV_CONFIG_GET, name.empty(), device_filter(name),
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
  auto done = transact(socket_, VDPA_CMD_DEV_VSTATS_GET, false, fill,
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
  return transact(socket_, VDPA_CMD_DEV_NEW, false, fill, [](const Attrs&, nlmsghdr*) {},
                  "VDPA_CMD_DEV_NEW of \"" + device.name + "\" on \"" + device.mgmtdev + "\"");
}

Result<void> Genl::remove(const std::string& name) {
  auto fill = [&](nl_msg* msg) { nla_put_string(msg, VDPA_ATTR_DEV_NAME, name.c_str()); };
  return transact(socket_, VDPA_CMD_DEV_DEL, false, fill, [](const Attrs&, nlmsghdr*) {},
                  "VDPA_CMD_DEV_DEL of \"" + name + "\"");
}

std::optional<Mac> parse_mac(const std::string& text) { return vnet::parse_mac(text); }

}  // namespace vnet::vdpa
