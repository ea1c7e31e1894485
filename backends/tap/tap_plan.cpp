#include "backends/tap/tap_plan.h"

namespace vnet::tap {

std::vector<std::string> split_fd_names(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t colon = list.find(':', start);
    out.push_back(list.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

namespace {

Error invalid(std::string text) { return Error{EINVAL, std::move(text)}; }

// "script=no" is QEMU's way to say none.
std::string script_path(const std::optional<std::string>& script) {
  if (!script || *script == "no") return "";
  return *script;
}

// netns=: vnetd makes the tap there itself. A client's fd is in whatever
// namespace it was opened in, and scripts and helpers run in vnetd's, where
// the tap's name means nothing.
Result<void> check_netns(const TapPlan& plan) {
  if (plan.netns.empty()) return {};
  if (plan.netns[0] != '/') return invalid("netns=" + plan.netns + " is not an absolute path");
  if (plan.source == Source::fd || plan.source == Source::fds) {
    return invalid("netns= is invalid with fd= and fds=: the fds' tap is in the namespace it was opened in");
  }
  if (plan.source == Source::helper) return invalid("netns= is invalid with helper=: the helper runs in vnetd's namespace");
  if (!plan.script.empty() || !plan.downscript.empty()) {
    return invalid("netns= is invalid with script= and downscript=: they run in vnetd's namespace");
  }
  if (plan.vhost == VhostMode::named_fds) return invalid("netns= is invalid with vhostfd= and vhostfds=");
  return {};
}

}  // namespace

Result<TapPlan> plan_tap(const qapi::NetdevTapOptions& o) {
  TapPlan plan;
  if (o.fd) {
    if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.helper || o.queues || o.fds || o.vhostfds) {
      return invalid("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= "
                     "are invalid with fd=");
    }
    plan.source = Source::fd;
    plan.fd_names = {*o.fd};
  } else if (o.fds) {
    if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.helper || o.queues || o.vhostfd) {
      return invalid("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= "
                     "are invalid with fds=");
    }
    plan.source = Source::fds;
    plan.fd_names = split_fd_names(*o.fds);
    if (o.vhostfds) {
      plan.vhost_fd_names = split_fd_names(*o.vhostfds);
      if (plan.vhost_fd_names.size() != plan.fd_names.size()) {
        return invalid("The number of fds passed does not match the number of vhostfds passed");
      }
    }
    plan.queues = static_cast<uint32_t>(plan.fd_names.size());
  } else if (o.helper) {
    if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.queues || o.vhostfds) {
      return invalid("ifname=, script=, downscript=, vnet_hdr=, queues=, and vhostfds= are invalid with helper=");
    }
    plan.source = Source::helper;
    plan.helper = *o.helper;
  } else {
    if (o.vhostfds) return invalid("vhostfds= is invalid if fds= wasn't specified");
    plan.source = Source::create;
    plan.ifname = o.ifname.value_or("");
    // QEMU copies the name into a 16-byte buffer and lets the kernel cut it;
    // a silently different name is worse than an error.
    if (plan.ifname.size() > 15) {
      return invalid("ifname=" + plan.ifname + " is longer than the 15 bytes a Linux interface name can have");
    }
    plan.queues = o.queues.value_or(1);
    plan.script = script_path(o.script);
    plan.downscript = script_path(o.downscript);
    plan.vnet_hdr_wanted = o.vnet_hdr.value_or(true);
    plan.vnet_hdr_required = o.vnet_hdr.value_or(false);
  }
  if (plan.queues == 0 || plan.queues > kMaxQueues) {
    return invalid("queues=" + std::to_string(plan.queues) + " is out of range: a tap has 1 to " +
                   std::to_string(kMaxQueues) + " queues");
  }
  plan.bridge = o.br.value_or("");
  plan.sndbuf = o.sndbuf;
  plan.poll_us = o.poll_us;
  // (uid_t)-1 is no id at all to the kernel (INVALID_UID).
  if (o.owner && *o.owner == UINT32_MAX) return invalid("owner=4294967295 is not a uid (0 to 4294967294)");
  if (o.group && *o.group == UINT32_MAX) return invalid("group=4294967295 is not a gid (0 to 4294967294)");
  plan.owner = o.owner;
  plan.group = o.group;

  // As net_init_tap_one(): vhost= decides; without it, vhostfd= or
  // vhostforce=on imply it.
  bool vhost = o.vhost ? *o.vhost : (o.vhostfd.has_value() || o.vhostfds.has_value() || o.vhostforce.value_or(false));
  if (vhost) {
    plan.vhost_required = o.vhost.value_or(false) || o.vhostforce.value_or(false);
    if (o.vhostfd) plan.vhost_fd_names = {*o.vhostfd};
    plan.vhost = plan.vhost_fd_names.empty() ? VhostMode::open_device : VhostMode::named_fds;
    if (plan.vhost == VhostMode::named_fds && plan.vhost_fd_names.size() != plan.queues) {
      return invalid("vhostfd= gives " + std::to_string(plan.vhost_fd_names.size()) + " vhost fd(s) for " +
                     std::to_string(plan.queues) + " queues");
    }
  } else if (o.vhostfd || o.vhostfds) {
    return invalid("vhostfd(s)= is not valid without vhost");
  }
  if (o.mtu && (*o.mtu < 68 || *o.mtu > 65521)) {
    // ETH_MIN_MTU, and tun's MAX_MTU (65535 less its Ethernet header).
    return invalid("mtu=" + std::to_string(*o.mtu) + " is out of range: a tap's MTU is 68 to 65521");
  }
  plan.mtu = o.mtu;
  if (o.mac) {
    plan.mac = parse_mac(*o.mac);
    if (!plan.mac) return invalid("mac=" + *o.mac + " is not a MAC address (xx:xx:xx:xx:xx:xx)");
    if ((*plan.mac)[0] & 1) return invalid("mac=" + *o.mac + " is a multicast address");
    if (*plan.mac == MacBytes{}) return invalid("mac=" + *o.mac + " is all zeros");
  }
  if ((o.mtu || o.mac) && plan.source != Source::create) {
    return invalid("mtu= and mac= are for a tap vnetd makes, not with fd=, fds= or helper=");
  }
  plan.netns = o.netns.value_or("");
  if (auto checked = check_netns(plan); !checked) return checked.take_error();
  plan.hold_queues = o.hold_queues.value_or(true);
  if (!plan.hold_queues) {
    if (plan.source != Source::create) return invalid("hold-queues=false is for a tap vnetd makes, not with fd=, fds= or helper=");
    if (!plan.owner && !plan.group) {
      return invalid("hold-queues=false needs owner= or group=: else only root could open the tap's queues");
    }
  }
  return plan;
}

Result<TapPlan> plan_bridge(const qapi::NetdevBridgeOptions& options) {
  TapPlan plan;
  plan.bridge = options.br.value_or(kDefaultBridge);
  if (options.helper) {
    plan.source = Source::helper;
    plan.helper = *options.helper;
  }
  plan.netns = options.netns.value_or("");
  if (auto checked = check_netns(plan); !checked) return checked.take_error();
  return plan;
}

}  // namespace vnet::tap
