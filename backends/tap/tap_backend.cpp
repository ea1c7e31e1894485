#include "backends/tap/tap_backend.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <linux/if_tun.h>
#include <net/if.h>

#include <cctype>
#include <climits>
#include <cstring>
#include <fstream>

#include "backends/tap/bridge/bridge_attach.h"
#include "backends/tap/bridge/bridge_helper.h"
#include "kernel_ifaces/fd_flags.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/utf8.h"
#include "kernel_ifaces/process.h"
#include "kernel_ifaces/tun.h"
#include "kernel_ifaces/vhost.h"

namespace vnet::tap {

namespace {

Error named_fd_missing(const std::string& name) {
  // QEMU's monitor_fd_param() text.
  return Error{EBADF, "File descriptor named '" + name + "' has not been found"};
}

// A digit-led name is an fd number to QEMU; vnetd cannot use a client's numbers.
bool is_fd_number(const std::string& name) { return !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])); }

// The flags of an existing tun device, from sysfs (as `ip tuntap show`).
std::optional<unsigned> existing_tun_flags(const std::string& ifname) {
  std::ifstream file("/sys/class/net/" + ifname + "/tun_flags");
  unsigned flags = 0;
  if (!(file >> std::hex >> flags)) return std::nullopt;
  return flags;
}

}  // namespace

Result<std::unique_ptr<TapBackend>> TapBackend::create(const TapPlan& plan, TapEnv& env) {
  std::unique_ptr<TapBackend> tap(new TapBackend(env.teardown, env.rtnl, env.frames));
  tap->poll_us_ = plan.poll_us;
  tap->downscript_ = plan.downscript;
  tap->script_timeout_ = env.script_timeout;
  tap->hold_queues_ = plan.hold_queues;
  if (!plan.netns.empty()) {
    if (auto opened = tap->open_netns(plan.netns); !opened) return opened.take_error();
  }
  rtnl::Rtnl& rtnl = *tap->rtnl_;

  Result<void> got = plan.source == Source::create   ? tap->open_queues(plan, env)
                     : plan.source == Source::helper ? tap->run_helper(plan, env)
                                                     : tap->adopt_named_fds(plan, env);
  if (!got) return got.take_error();
  if (auto configured = tap->configure_queues(plan); !configured) return configured.take_error();
  // Kernel errors name the device by ifindex: say which tap it is (QEMU's
  // own texts, above, stay as QEMU words them).
  const std::string device = "tap \"" + tap->ifname_ + "\"";

  auto link = rtnl.get_link(tap->ifname_);
  if (!link) return link.take_error();
  tap->ifindex_ = link->ifindex;
  tap->mac_ = link->mac;
  tap->mtu_ = link->mtu;
  tap->planned_queues_ = static_cast<uint32_t>(tap->queues_.size());
  // tun never stops its queues (a full ring drops), so a root qdisc in front
  // of a tap never holds a frame; the default one costs a pfifo_fast per tx
  // queue (256 for a multiqueue tap, ~5 MiB and most of the link-up time).
  // Only on taps we made: an attached tap's qdisc is its owner's business.
  if (tap->created_) {
    if (auto set = rtnl.set_root_qdisc(tap->ifindex_, "noqueue"); !set) return set.take_error(device);
  }
  if (auto set = tap->set_mtu_and_mac(plan); !set) return set.take_error(device);

  // As QEMU's net_tap_init(): the up-script runs once the device exists.
  if (!plan.script.empty() && plan.defer_script) {
    tap->deferred_script_ = plan.script;
  } else if (!plan.script.empty()) {
    if (auto ran = process::run({plan.script, tap->ifname_}, env.script_timeout); !ran) {
      return Error{ran.error().errnum, "network script " + plan.script + ": " + ran.error().message};
    }
  }
  if (!plan.bridge.empty() && plan.source != Source::helper) {
    if (auto joined = bridge::enslave_to_bridge(rtnl, tap->ifindex_, plan.bridge, env.bridge_acl); !joined) {
      return joined.take_error();
    }
    tap->bridge_ = plan.bridge;
  } else {
    // What /etc/qemu-ifup does for QEMU: the host side comes up.
    rtnl::LinkChange up;
    up.up = true;
    if (auto raised = rtnl.change_link(tap->ifindex_, up); !raised) return raised.take_error(device);
  }
  if (auto vhost = tap->open_vhost(plan, env); !vhost) return vhost.take_error();
  tap->complete_ = true;
  return tap;
}

Result<void> TapBackend::open_netns(const std::string& path) {
  auto opened = netns::Netns::open(path);
  if (!opened) return opened.take_error();
  auto rtnl = (*opened)->rtnl();
  if (!rtnl) return rtnl.take_error();
  netns_ = std::move(*opened);
  rtnl_ = *rtnl;
  return {};
}

Result<UniqueFd> TapBackend::open_tun() const {
  if (!netns_) return tun::open_device();
  auto inside = netns::ScopedNetns::enter(netns_->fd(), "netns '" + netns_->path() + "'");
  if (!inside) return inside.take_error();
  return tun::open_device();
}

std::string TapBackend::teardown_key(const std::string& ifname) const {
  return netns_ ? ifname + " in netns " + std::to_string(netns_->id().ino) : ifname;
}

// mtu= and mac=: on a tap vnetd made, before its link comes up.
Result<void> TapBackend::set_mtu_and_mac(const TapPlan& plan) {
  if (!plan.mtu && !plan.mac) return {};
  rtnl::LinkChange change;
  change.mtu = plan.mtu;
  change.mac = plan.mac;
  if (auto changed = rtnl_->change_link(ifindex_, change); !changed) return changed;
  auto link = rtnl_->get_link(ifindex_);
  if (!link) return link.take_error();
  mac_ = link->mac;
  mtu_ = link->mtu;
  return {};
}

// Persistent, so that it outlives a daemon that crashes or restarts (the
// VMM's fds keep working); vnetd deletes it itself when the netdev goes. Only
// once the netdev's record is durable: until then, the daemon's death closes
// its fds and so removes the tap, and no crash leaves a device behind that no
// state knows of.
void TapBackend::record_committed() {
  if (!created_ || persistent_ || queues_.empty()) return;
  if (auto persist = tun::set_persist(queues_.front().get(), true); !persist) {
    log::warning("tap " + ifname_ + ": " + persist.error().message + ": a crash would remove it");
    return;
  }
  persistent_ = true;
  // Queues vnetd kept attached would make a VMM's TUNSETIFF fail (EBUSY on
  // a single-queue tap) or add queues nobody reads to a multiqueue one.
  if (!hold_queues_) queues_.clear();
}

Result<std::unique_ptr<TapBackend>> TapBackend::restore(const TapPlan& plan, const Record& record, TapEnv& env) {
  std::unique_ptr<TapBackend> tap(new TapBackend(env.teardown, env.rtnl, env.frames));
  tap->persistent_ = true;  // it outlived a daemon
  tap->poll_us_ = plan.poll_us;
  tap->downscript_ = plan.downscript;
  tap->script_timeout_ = env.script_timeout;
  // The kernel kept them on the persistent device; set again below when the
  // queues are reopened.
  tap->owner_ = plan.owner;
  tap->group_ = plan.group;
  tap->hold_queues_ = plan.hold_queues;
  tap->ifname_ = record.ifname;
  tap->bridge_ = record.bridge;
  tap->created_ = record.created;
  if (!plan.netns.empty()) {
    if (auto opened = tap->open_netns(plan.netns); !opened) return opened.take_error();
    if (record.netns_inode && tap->netns_->id().ino != record.netns_inode) {
      return Error{ENOENT, "netns '" + plan.netns + "' names another namespace now: the tap's is gone"};
    }
  }
  rtnl::Rtnl& rtnl = *tap->rtnl_;
  auto link = rtnl.get_link(record.ifname);
  if (!link) return Error{link.error().errnum, "tap \"" + record.ifname + "\" is gone: " + link.error().message};
  if (link->ifindex != record.ifindex) {
    return Error{ENODEV, "\"" + record.ifname + "\" is another device now (ifindex " + std::to_string(link->ifindex) +
                             ", was " + std::to_string(record.ifindex) + ")"};
  }
  auto info = rtnl.get_tun_info(link->ifindex);
  if (!info) return info.take_error();
  if (!info->tap) return Error{EINVAL, "\"" + record.ifname + "\" is not a tap"};
  tap->ifindex_ = link->ifindex;
  tap->mac_ = link->mac;
  tap->mtu_ = link->mtu;
  tap->multi_queue_ = info->multi_queue;
  tap->vnet_hdr_ = info->vnet_hdr;
  tap->planned_queues_ = plan.source == Source::create ? plan.queues : 0;
  tap->complete_ = true;  // from here on, a failure must not delete the device
  if (info->num_queues == 0 && plan.source == Source::create && plan.hold_queues) {
    // Nobody holds a queue (as far as the kernel says): open them again, as
    // netdev_add did.
    unsigned flags = IFF_TAP | IFF_NO_PI | (tap->vnet_hdr_ ? IFF_VNET_HDR : 0) | (tap->multi_queue_ ? IFF_MULTI_QUEUE : 0);
    for (uint32_t i = 0; i < plan.queues; i++) {
      auto fd = tap->open_tun();
      if (!fd) return fd.take_error();
      if (auto name = tun::set_iff(fd->get(), record.ifname, flags); !name) {
        // The kernel reports attached queues of multi-queue taps only
        // (tun_fill_info): a single-queue tap held by a VMM shows up here.
        if (!tap->multi_queue_ && name.error().errnum == EBUSY) return tap;
        return name.take_error();
      }
      tap->queues_.push_back(std::move(*fd));
    }
    if (auto configured = tap->configure_queues(plan); !configured) return configured.take_error();
    if (auto vhost = tap->open_vhost(plan, env); !vhost) return vhost.take_error();
  }
  return tap;
}

// Opens one fd per queue on /dev/net/tun, as QEMU's tap_open().
Result<void> TapBackend::open_queues(const TapPlan& plan, TapEnv& env) {
  // A del of this name may be finishing.
  if (!plan.ifname.empty()) env.teardown.wait_for_name(teardown_key(plan.ifname));
  multi_queue_ = plan.queues > 1;
  for (uint32_t i = 0; i < plan.queues; i++) {
    auto fd = open_tun();
    if (!fd) return fd.take_error();
    unsigned flags = IFF_TAP | IFF_NO_PI;
    if (i == 0) {
      auto features = tun::get_features(fd->get());
      unsigned supported = features ? *features : 0;
      vnet_hdr_ = plan.vnet_hdr_wanted && (supported & IFF_VNET_HDR);
      if (plan.vnet_hdr_required && !vnet_hdr_) {
        return Error{EINVAL, "vnet_hdr=1 requested, but no kernel support for IFF_VNET_HDR available"};
      }
      if (multi_queue_ && !(supported & IFF_MULTI_QUEUE)) {
        return Error{EINVAL, "multiqueue required, but no kernel support for IFF_MULTI_QUEUE available"};
      }
      if (!plan.ifname.empty() && netns_) {
        // In another namespace vnetd makes the tap; it does not take over one.
        if (rtnl_->get_link(plan.ifname)) {
          return Error{EEXIST, "\"" + plan.ifname + "\" exists in netns '" + netns_->path() + "'"};
        }
        created_ = true;
      } else if (!plan.ifname.empty()) {
        auto existing = rtnl_->get_link(plan.ifname);
        if (existing) {
          auto tun_flags = existing_tun_flags(plan.ifname);
          if (!tun_flags || !(*tun_flags & IFF_TAP)) {
            return Error{EEXIST, "\"" + plan.ifname + "\" exists and is not a tap device"};
          }
          bool existing_mq = *tun_flags & IFF_MULTI_QUEUE;
          if (existing_mq != multi_queue_) {
            return Error{EINVAL, "tap \"" + plan.ifname + "\" exists " +
                                     (existing_mq ? "with IFF_MULTI_QUEUE: attach with queues=2 or more"
                                                  : "without IFF_MULTI_QUEUE: attach with queues=1")};
          }
        }
        created_ = !existing;
      } else {
        created_ = true;
      }
    }
    if (vnet_hdr_) flags |= IFF_VNET_HDR;
    if (multi_queue_) flags |= IFF_MULTI_QUEUE;
    auto name = tun::set_iff(fd->get(), i == 0 ? (plan.ifname.empty() ? "tap%d" : plan.ifname) : ifname_, flags);
    if (!name) return name.take_error();
    ifname_ = *name;
    queues_.push_back(std::move(fd.value()));
  }
  return {};
}

// fd= / fds=: the client opened the tap; we check what it is.
Result<void> TapBackend::adopt_named_fds(const TapPlan& plan, TapEnv& env) {
  for (size_t i = 0; i < plan.fd_names.size(); i++) {
    const std::string& name = plan.fd_names[i];
    if (is_fd_number(name)) {
      return Error{EINVAL, "fd name '" + name + "' is a number: pass the fd with getfd and use its name"};
    }
    auto fd = env.take_named_fd(name);
    if (!fd) return named_fd_missing(name);
    if (auto adopted = adopt_fd(std::move(*fd)); !adopted) return adopted;
  }
  return {};
}

// helper=: as QEMU's net_bridge_run_helper(), the helper makes the tap and
// puts it on the bridge; we get its fd.
Result<void> TapBackend::run_helper(const TapPlan& plan, TapEnv& env) {
  auto fd = bridge::run_bridge_helper(plan.helper_argv, plan.bridge.empty() ? kDefaultBridge : plan.bridge,
                                      env.script_timeout);
  if (!fd) return fd.take_error();
  bridge_ = plan.bridge.empty() ? kDefaultBridge : plan.bridge;
  return adopt_fd(std::move(fd.value()));
}

// Takes a tap fd someone else opened, checking it as tap_probe_vnet_hdr().
Result<void> TapBackend::adopt_fd(UniqueFd fd) {
  if (auto nb = set_nonblocking(fd.get(), "fd " + std::to_string(fd.get())); !nb) return nb.take_error();
  auto iff = tun::get_iff(fd.get());
  if (!iff) {
    // QEMU's tap_probe_vnet_hdr() text.
    return Error{iff.error().errnum, "Unable to query TUNGETIFF on FD " + std::to_string(fd.get()) + ": " +
                                         std::strerror(iff.error().errnum)};
  }
  if (!valid_utf8(iff->name)) {
    return Error{EINVAL, "the tap behind FD " + std::to_string(fd.get()) +
                             " has a name that is not valid UTF-8: QMP cannot name it (rename it first)"};
  }
  bool vnet_hdr = iff->flags & IFF_VNET_HDR;
  if (queues_.empty()) {
    vnet_hdr_ = vnet_hdr;
    ifname_ = iff->name;
    multi_queue_ = iff->flags & IFF_MULTI_QUEUE;
  } else if (vnet_hdr != vnet_hdr_) {
    return Error{EINVAL, "vnet_hdr not consistent across given tap fds"};
  } else if (iff->name != ifname_) {
    return Error{EINVAL, "fds= names fds of different taps (\"" + ifname_ + "\", \"" + iff->name + "\")"};
  }
  queues_.push_back(std::move(fd));
  return {};
}

// owner= and group=: on every queue vnetd holds, before the tap is made
// persistent (record_committed) and before anyone else gets its fds.
Result<void> TapBackend::apply_owner(const TapPlan& plan) {
  owner_ = plan.owner;
  group_ = plan.group;
  // The kernel lets any process that can open /dev/net/tun attach to a tap
  // with neither owner nor group (tun_not_capable()): a queue of a guest's
  // multiqueue tap, its frames both ways. A tap vnetd makes is root's unless
  // the request names an owner or group.
  if (!owner_ && !group_ && created_) owner_ = 0;
  for (const auto& fd : queues_) {
    if (owner_) {
      if (auto set = tun::set_owner(fd.get(), *owner_); !set) {
        return Error{set.error().errnum, "tap \"" + ifname_ + "\": " + set.error().message};
      }
    }
    if (group_) {
      if (auto set = tun::set_group(fd.get(), *group_); !set) {
        return Error{set.error().errnum, "tap \"" + ifname_ + "\": " + set.error().message};
      }
    }
  }
  return {};
}

// vnet header size, offloads and send buffer on every queue, as QEMU's
// tap_open() and net_init_tap_one(); then the owner and group.
Result<void> TapBackend::configure_queues(const TapPlan& plan) {
  if (auto owned = apply_owner(plan); !owned) return owned;
  sndbuf_ = plan.sndbuf && *plan.sndbuf ? static_cast<int>(std::min<uint64_t>(*plan.sndbuf, INT_MAX)) : INT_MAX;
  for (const auto& fd : queues_) {
    if (vnet_hdr_) {
      if (auto sized = tun::set_vnet_hdr_size(fd.get(), kVirtioNetHdrSize); !sized) return sized.take_error();
    }
    if (auto sndbuf = tun::set_sndbuf(fd.get(), sndbuf_); !sndbuf && plan.sndbuf) {
      return Error{sndbuf.error().errnum, "TUNSETSNDBUF ioctl failed: " + sndbuf.error().message};
    }
  }
  if (vnet_hdr_) {
    // As tap_probe_has_ufo(), then every offload off until the guest's
    // driver negotiates them (the VMM sets them on its fds).
    int fd = queues_.front().get();
    has_ufo_ = static_cast<bool>(tun::set_offload(fd, TUN_F_CSUM | TUN_F_UFO));
    for (const auto& q : queues_) {
      if (auto off = tun::set_offload(q.get(), 0); !off) return off.take_error();
    }
  }
  return {};
}

Result<void> TapBackend::open_vhost(const TapPlan& plan, TapEnv& env) {
  if (plan.vhost == VhostMode::off) return {};
  for (uint32_t i = 0; i < queues_.size(); i++) {
    UniqueFd fd;
    if (plan.vhost == VhostMode::named_fds) {
      auto named = env.take_named_fd(plan.vhost_fd_names.at(i));
      if (!named) return named_fd_missing(plan.vhost_fd_names[i]);
      fd = std::move(*named);
    } else {
      auto opened = vhost::open_device(vhost::kVhostNetPath);
      if (!opened) {
        // QEMU 7.2 warns and goes on (or aborts later); asked-for vhost that
        // cannot be had is an error here.
        if (plan.vhost_required) {
          return Error{opened.error().errnum,
                       "vhost=on: " + opened.error().message + " (is the vhost_net module loaded?)"};
        }
        vhost_fds_.clear();
        return {};
      }
      fd = std::move(opened.value());
    }
    auto features = vhost::get_features(fd.get());
    if (!features) return features.take_error();
    vhost_features_ = *features;
    vhost_fds_.push_back(std::move(fd));
  }
  return {};
}

TapBackend::~TapBackend() {
  port_.reset();  // its reads end before the queues close
  if (!complete_) {
    // A failed netdev_add leaves nothing behind by the time it is answered
    // (a persistent tap stays when its fds close: delete it).
    vhost_fds_.clear();
    queues_.clear();
    if (created_ && ifindex_) (void)rtnl_->delete_link(ifindex_);
    return;
  }
  if (keep_) return;  // the fds close; the device stays for the next daemon
  // A tap we created is deleted over rtnetlink, batched with other deletions,
  // even while a VMM still holds its fds (as `ip link del` would); one we
  // attached to only loses our fds. The downscript runs first, with the
  // device still there, as in QEMU's tap_cleanup().
  auto queues = std::make_shared<std::vector<UniqueFd>>(std::move(queues_));
  auto vhost_fds = std::make_shared<std::vector<UniqueFd>>(std::move(vhost_fds_));
  TeardownJob job;
  job.key = teardown_key(ifname_);
  job.ifindex = created_ && !netns_ ? ifindex_ : 0;
  if (netns_ && created_) {
    // The batch deletes links in vnetd's namespace; this one is deleted in
    // its own, with the socket opened there (only this tap uses it).
    job.before = [netns = netns_, ifindex = ifindex_, ifname = ifname_] {
      auto rtnl = netns->rtnl();
      auto deleted = rtnl ? (*rtnl)->delete_link(ifindex) : Result<void>(rtnl.take_error());
      if (!deleted && deleted.error().errnum != ENODEV) {
        log::warning("deleting tap " + ifname + " in netns '" + netns->path() + "': " + deleted.error().message);
      }
    };
  }
  if (!downscript_.empty()) {
    job.before = [downscript = downscript_, ifname = ifname_, timeout = script_timeout_] {
      if (auto ran = process::run({downscript, ifname}, timeout); !ran) {
        log::warning("downscript for " + ifname + ": " + ran.error().message);
      }
    };
  }
  job.release = [queues, vhost_fds] {
    vhost_fds->clear();
    queues->clear();
  };
  teardown_.submit(std::move(job));
}

Result<void> TapBackend::peer_connected(Backend& peer) {
  if (peer.is_guest_nic()) return {};
  if (!frames_) return Error{EOPNOTSUPP, "tap \"" + ifname_ + "\": this vnetd runs without a userspace datapath"};
  if (queues_.empty()) {
    return Error{EBADF, "tap \"" + ifname_ + "\": vnetd holds none of its queues (a VMM does), so it cannot carry its frames"};
  }
  int header_size = 0;
  if (vnet_hdr_) {
    auto size = tun::get_vnet_hdr_size(queues_.front().get());
    if (!size) return size.take_error("tap \"" + ifname_ + "\"");
    header_size = *size;
  }
  std::vector<int> fds;
  for (const auto& queue : queues_) fds.push_back(queue.get());
  auto port = TapPort::start(*frames_, std::move(fds), header_size, peer);
  if (!port) return Error{port.error().errnum, "tap \"" + ifname_ + "\": " + port.error().message};
  port_ = std::move(*port);
  // A tap in another namespace is out of reach of a hub's BPF redirects.
  if (netns_) return {};
  // A hub may forward in the kernel through this tap instead (its egress).
  Backend::KernelPath path;
  path.ifindex = ifindex_;
  path.host_facing = true;
  peer.peer_kernel_path_ready(path);
  return {};
}

void TapBackend::peer_disconnected(Backend& peer) {
  if (port_ && !netns_) peer.peer_kernel_path_gone();
  port_.reset();
}

Result<void> TapBackend::send_from_guest(std::span<const uint8_t> frame) {
  if (port_) return port_->write(frame);
  if (queues_.empty()) return Error{EBADF, "tap \"" + ifname_ + "\": no queue fd (a VMM holds them all)"};
  int fd = queues_.front().get();
  // The header's size is the device's, and a VMM may have changed it (QEMU
  // sets 12 for virtio 1.0): ask rather than assume.
  int header_size = 0;
  if (vnet_hdr_) {
    auto size = tun::get_vnet_hdr_size(fd);
    if (!size) return size.take_error("tap \"" + ifname_ + "\"");
    header_size = *size;
  }
  std::vector<uint8_t> header(header_size, 0);  // no offloads: a plain frame
  iovec parts[2] = {{header.data(), header.size()}, {const_cast<uint8_t*>(frame.data()), frame.size()}};
  ssize_t written = writev(fd, parts, 2);
  if (written < 0) return Error::from_errno(errno, "writing a frame into tap \"" + ifname_ + "\"");
  return {};
}

Result<void> TapBackend::set_offloads(unsigned flags) {
  if (queues_.empty()) return Error{EBADF, "tap \"" + ifname_ + "\": no queue fd to set offloads on (a VMM holds them all)"};
  if (!vnet_hdr_) return Error{EINVAL, "tap \"" + ifname_ + "\": offloads need vnet headers (IFF_VNET_HDR)"};
  for (const auto& queue : queues_) {
    if (auto set = tun::set_offload(queue.get(), flags); !set) return set.take_error("tap \"" + ifname_ + "\"");
  }
  return {};
}

Result<void> TapBackend::set_link(bool up) {
  rtnl::LinkChange change;
  change.up = up;
  if (auto changed = rtnl_->change_link(ifindex_, change); !changed) return changed.take_error("tap \"" + ifname_ + "\"");
  // IFLA_CARRIER is TUNSETCARRIER without needing a queue fd (a restarted
  // daemon may have none); tun refuses carrier on while no queue is attached.
  rtnl::LinkChange carrier;
  carrier.carrier = up;
  return rtnl_->change_link(ifindex_, carrier);
}

std::vector<Detail> TapBackend::details() const {
  std::vector<Detail> out{
      {"ifname", ifname_},
      {"ifindex", int64_t{ifindex_}},
      {"queues", static_cast<int64_t>(planned_queues_ ? planned_queues_ : queues_.size())},
      {"queue-fds", static_cast<int64_t>(queues_.size())},
      {"multi-queue", multi_queue_},
      {"vnet-hdr", vnet_hdr_},
      {"ufo", has_ufo_},
      {"sndbuf", int64_t{sndbuf_}},
      {"created", created_},
      {"vhost", !vhost_fds_.empty()},
  };
  if (!hold_queues_) out.push_back({"hold-queues", false});
  if (!vhost_fds_.empty()) out.push_back({"vhost-features", static_cast<int64_t>(vhost_features_)});
  if (poll_us_) out.push_back({"poll-us", int64_t{*poll_us_}});
  if (owner_) out.push_back({"owner", int64_t{*owner_}});
  if (group_) out.push_back({"group", int64_t{*group_}});
  if (!bridge_.empty()) out.push_back({"bridge", bridge_});
  if (netns_) {
    out.push_back({"netns", netns_->path()});
    out.push_back({"netns-inode", static_cast<int64_t>(netns_->id().ino)});
  }
  if (!mac_.empty()) out.push_back({"mac", mac_});
  if (mtu_) out.push_back({"mtu", int64_t{mtu_}});
  if (!downscript_.empty()) out.push_back({"downscript", downscript_});
  out.push_back({"carried-by", std::string(port_ ? "vnetd" : "vmm")});
  if (port_) {
    for (auto& detail : port_->details()) out.push_back(std::move(detail));
  }
  return out;
}

std::vector<BackendFd> TapBackend::fds() const {
  std::vector<BackendFd> out;
  for (size_t i = 0; i < queues_.size(); i++) out.push_back({FdRole::tap, static_cast<int>(i), queues_[i].get()});
  for (size_t i = 0; i < vhost_fds_.size(); i++) {
    out.push_back({FdRole::vhost, static_cast<int>(i), vhost_fds_[i].get()});
  }
  return out;
}

}  // namespace vnet::tap
