#include "ctl/backend_factory.h"

#include <cstring>
#include <string>

#include "backends/l2tpv3/l2tpv3_backend.h"
#include "backends/l2tpv3/l2tpv3_kernel_backend.h"
#include "backends/netmap/netmap_support.h"
#include "backends/nic/ip_prefix.h"
#include "backends/nic/nic_backend.h"
#include "backends/tap/tap_backend.h"
#include "backends/socket/socket_backend.h"
#include "backends/tap/tap_plan.h"
#include "backends/user/user_backend.h"
#include "backends/user/user_options.h"
#include "backends/vde/vde_backend.h"
#include "backends/vhost_user/vhost_user_backend.h"
#include "backends/vhost_vdpa/vhost_vdpa_backend.h"
#include "ctl/netns_watch.h"
#include "kernel_ifaces/log.h"

namespace vnet {

namespace {

using Created = QmpResult<std::unique_ptr<Backend>>;

Created not_built_yet(const qapi::Netdev& netdev) {
  return generic_error("netdev type '" + std::string(to_string(netdev.type)) +
                       "' is not implemented in this vnetd yet");
}

Created from(Result<std::unique_ptr<tap::TapBackend>> made) {
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

// A tap in another namespace is watched for as long as it lives: the
// netdev goes when the namespace does.
Created watched(Result<std::unique_ptr<tap::TapBackend>> made, DaemonResources& r, const std::string& id) {
  if (made && made.value()->netns() && r.netns_watch) {
    made.value()->hold_namespace_watch(r.netns_watch->watch(id, made.value()->netns()));
  }
  return from(std::move(made));
}

Created create_hubport(const qapi::Netdev& netdev, DaemonResources& r) {
  const auto& options = std::get<qapi::NetdevHubPortOptions>(netdev.u);
  return std::unique_ptr<Backend>(r.hubs.add_port(options.hubid, netdev.id, options.kernel_forwarding.value_or(true)));
}

// script=, downscript= and helper= as the policy allows them: canonical
// paths, a helper's words. A restored tap whose downscript the policy no
// longer allows keeps its device and loses the script (logged).
Result<void> apply_program_policy(tap::TapPlan& plan, const ProgramPolicy& policy, bool restoring) {
  if (!plan.script.empty()) {
    auto script = policy.check_script("script", plan.script);
    if (!script) return script.take_error();
    plan.script = *script;
  }
  if (!plan.downscript.empty()) {
    auto downscript = policy.check_script("downscript", plan.downscript);
    if (!downscript && !restoring) return downscript.take_error();
    if (!downscript) log::warning(downscript.error().message + ": it will not run");
    plan.downscript = downscript ? *downscript : "";
  }
  if (plan.source == tap::Source::helper && !restoring) {
    auto argv = policy.check_helper(plan.helper);
    if (!argv) return argv.take_error();
    plan.helper_argv = std::move(*argv);
  }
  return {};
}

tap::TapEnv tap_env(DaemonResources& r, const BackendRequest& request) {
  tap::TapEnv env{r.teardown, r.rtnl, r.bridge_acl, request.take_named_fd};
  env.frames = r.frames;
  env.script_timeout = r.programs.script_timeout;
  return env;
}

Created create_tap(const qapi::Netdev& netdev, DaemonResources& r, const BackendRequest& request) {
  auto plan = tap::plan_tap(std::get<qapi::NetdevTapOptions>(netdev.u));
  if (!plan) return generic_error(plan.error().message);
  if (auto allowed = apply_program_policy(*plan, r.programs, bool(request.restore_tap)); !allowed) {
    return generic_error(allowed.error().message);
  }
  plan->defer_script = request.defer_script;
  tap::TapEnv env = tap_env(r, request);
  if (request.restore_tap) return watched(tap::TapBackend::restore(*plan, *request.restore_tap, env), r, netdev.id);
  return watched(tap::TapBackend::create(*plan, env), r, netdev.id);
}

Created create_bridge(const qapi::Netdev& netdev, DaemonResources& r, const BackendRequest& request) {
  auto plan = tap::plan_bridge(std::get<qapi::NetdevBridgeOptions>(netdev.u));
  if (!plan) return generic_error(plan.error().message);
  if (auto allowed = apply_program_policy(*plan, r.programs, bool(request.restore_tap)); !allowed) {
    return generic_error(allowed.error().message);
  }
  tap::TapEnv env = tap_env(r, request);
  if (request.restore_tap) return watched(tap::TapBackend::restore(*plan, *request.restore_tap, env), r, netdev.id);
  return watched(tap::TapBackend::create(*plan, env), r, netdev.id);
}

// The tap a NIC on a hub gets for its VMM, planned from the NIC's options
// as a tap netdev's would be (made here, never from a client's fds).
tap::TapPlan plan_nic_tap(const qapi::NetLegacyNicOptions& options) {
  tap::TapPlan plan;
  plan.ifname = options.ifname.value_or("");
  plan.queues = options.queues.value_or(1);
  plan.vnet_hdr_wanted = options.vnet_hdr.value_or(true);
  plan.vnet_hdr_required = options.vnet_hdr.value_or(false);
  if (options.vhost.value_or(false)) {
    plan.vhost = tap::VhostMode::open_device;
    plan.vhost_required = true;
  }
  return plan;
}

Result<void> check_nic_tap_options(const qapi::NetLegacyNicOptions& options, bool gets_tap) {
  if (gets_tap) {
    if (options.queues && (*options.queues < 1 || *options.queues > tap::kMaxQueues)) {
      return Error{EINVAL, "queues must be in range [1, " + std::to_string(tap::kMaxQueues) + "]"};
    }
    if (options.vhost.value_or(false) && !options.vnet_hdr.value_or(true)) {
      return Error{EINVAL, "vhost needs vnet_hdr"};
    }
    return {};
  }
  if (options.ifname || options.queues || options.vhost || options.vnet_hdr) {
    return Error{EINVAL, "ifname, queues, vhost and vnet_hdr are for a nic whose netdev is a hubport (vnetd makes "
                         "its tap); a nic on a tap uses that tap's"};
  }
  return {};
}

std::optional<QmpError> give_nic_its_tap(nic::NicBackend& nic, const qapi::Netdev& netdev, DaemonResources& r,
                                         const BackendRequest& request) {
  if (!r.frames) return generic_error("nic '" + netdev.id + "' on a hub: this vnetd runs without a userspace datapath");
  tap::TapPlan plan = plan_nic_tap(std::get<qapi::NetLegacyNicOptions>(netdev.u));
  tap::TapEnv env = tap_env(r, request);
  env.frames = nullptr;  // never vnetd's to carry: the NIC's VMM holds its queues
  auto tap = request.restore_tap ? tap::TapBackend::restore(plan, *request.restore_tap, env)
                                 : tap::TapBackend::create(plan, env);
  if (!tap) return generic_error("nic '" + netdev.id + "': its tap: " + tap.error().message);
  if (auto ready = rtnl::up_without_host_ipv6(r.rtnl, tap.value()->ifindex(), tap.value()->ifname()); !ready) {
    return generic_error("nic '" + netdev.id + "': its tap: " + ready.error().message);
  }
  if (auto given = nic.give_guest_tap(std::move(tap.value()), *r.frames); !given) {
    return generic_error("nic '" + netdev.id + "': " + given.error().message);
  }
  return std::nullopt;
}

// The guest NIC (QEMU refuses type nic in netdev_add; it is ours).
Created create_nic(const qapi::Netdev& netdev, DaemonResources& r, const BackendRequest& request) {
  const auto& options = std::get<qapi::NetLegacyNicOptions>(netdev.u);
  nic::NicIdentity identity;
  identity.mac = request.default_mac;
  if (options.macaddr) {
    auto mac = nic::parse_mac(*options.macaddr);
    if (!mac) {
      return generic_error("macaddr '" + *options.macaddr + "' is not a MAC address (six hex pairs, as 52:54:00:12:34:56)");
    }
    if ((*mac)[0] & 1) return generic_error("macaddr '" + *options.macaddr + "' is a multicast address");
    identity.mac = *mac;
  }
  identity.model = options.model.value_or("");
  identity.addr = options.addr.value_or("");
  identity.vectors = options.vectors;
  if (auto checked = check_nic_tap_options(options, request.nic_gets_tap); !checked) {
    return generic_error(checked.error().message);
  }
  // Pinned per NIC id, under a directory named for the maps' layout version.
  std::string pin_dir = r.bpf_pin_root.empty() ? "" : r.bpf_pin_root + "/" + netdev.id;
  std::string anti_spoof_pin_dir = r.anti_spoof_pin_root.empty() ? "" : r.anti_spoof_pin_root + "/" + netdev.id;
  // anti-spoof=on: applied when the NIC is paired with its tap (a failure
  // there undoes the add); a NIC added with no peer has no tap to act on.
  std::optional<nic::AntiSpoofSetting> anti_spoof;
  if (options.anti_spoof.value_or(false)) {
    if (!options.netdev) return generic_error("anti-spoof needs netdev naming the tap the guest sends into");
    nic::AntiSpoofSetting setting;
    setting.enabled = true;
    setting.allowed_texts = options.allowed_ips.value_or(std::vector<std::string>{});
    auto allowed = nic::parse_ip_prefixes(setting.allowed_texts, "allowed-ips");
    if (!allowed) return generic_error(allowed.error().message);
    setting.allowed = std::move(allowed.value());
    setting.drop_other = options.other_ethertypes == qapi::AntiSpoofOtherEthertypes::drop;
    anti_spoof = std::move(setting);
  } else if (options.allowed_ips || options.other_ethertypes) {
    return generic_error("allowed-ips and other-ethertypes go with anti-spoof on");
  }
  auto made = nic::NicBackend::create(std::move(identity), pin_dir, anti_spoof_pin_dir);
  if (!made) return generic_error("nic '" + netdev.id + "': " + made.error().message);
  if (request.nic_gets_tap) {
    if (auto refused = give_nic_its_tap(*made.value(), netdev, r, request)) return *refused;
  }
  if (anti_spoof) made.value()->set_anti_spoof_on_peering(std::move(*anti_spoof));
  return std::unique_ptr<Backend>(std::move(made.value()));
}

Created create_socket(const qapi::Netdev& netdev, DaemonResources& r, const BackendRequest& request) {
  if (!r.frames) return generic_error("socket netdev: this vnetd runs without a userspace datapath");
  auto made =
      socket::SocketBackend::create(std::get<qapi::NetdevSocketOptions>(netdev.u), *r.frames, request.take_named_fd);
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

// In the kernel when it can carry the options (and offload= does not say
// off), else in vnetd, saying why; offload=on fails instead.
Created create_l2tpv3(const qapi::Netdev& netdev, DaemonResources& r, const BackendRequest& request) {
  if (!r.frames) return generic_error("l2tpv3 netdev: this vnetd runs without a userspace datapath");
  const auto& options = std::get<qapi::NetdevL2TPv3Options>(netdev.u);
  auto layout = l2tpv3::plan_layout(options);
  if (!layout) return generic_error(layout.error().message);
  std::string why_not = options.offload == false ? "offload=off"
                        : !r.l2tp_tunnels       ? "this vnetd offloads no l2tpv3"
                                                : l2tpv3::kernel_cannot_carry(*layout);
  if (why_not.empty()) {
    auto made = l2tpv3::L2tpv3KernelBackend::create(options, *layout, {*r.l2tp_tunnels, r.rtnl, *r.frames},
                                                    request.restore_l2tp_tunnel);
    if (made) return std::unique_ptr<Backend>(std::move(made.value()));
    why_not = "the kernel's L2TPv3: " + made.error().message;
  }
  if (options.offload == true) return generic_error("l2tpv3 netdev '" + netdev.id + "': offload=on: " + why_not);
  auto made = l2tpv3::L2tpv3Backend::create(options, *r.frames, why_not);
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

// QEMU's net_init_vde() answers any vde_open() failure with its errno.
Created create_vde(const qapi::Netdev& netdev, DaemonResources& r) {
  if (!r.frames) return generic_error("vde netdev: this vnetd runs without a userspace datapath");
  auto args = vde::open_args(std::get<qapi::NetdevVdeOptions>(netdev.u), netdev.id);
  if (auto allowed = r.programs.check_vde_url(args.url); !allowed) return generic_error(allowed.error().message);
  auto connection = vde::VdeConnection::open(args);
  if (!connection) return generic_error(std::string("Could not open vde: ") + std::strerror(connection.error().errnum));
  auto made = vde::VdeBackend::create(std::move(*connection), std::move(args), *r.frames);
  if (!made) return generic_error("vde netdev '" + netdev.id + "': " + made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

// vnetd has no netmap datapath; add_netdev() refuses netmap before its id
// checks, as QEMU refuses a type it lacks, and this says the same.
Created create_netmap(const qapi::Netdev& netdev) {
  const auto& options = std::get<qapi::NetdevNetmapOptions>(netdev.u);
  return generic_error(netmap::unsupported(options.devname.value_or(netmap::kDefaultDevice)).message);
}

// tftp=, smb= and guestfwd cmd: as the policy allows them. A rule that does
// not parse is left to the backend, which names it as QEMU does.
Result<void> check_user_programs(const qapi::NetdevUserOptions& options, const ProgramPolicy& policy) {
  if (options.tftp) {
    if (auto allowed = policy.check_user_dir("tftp", *options.tftp); !allowed) return allowed;
  }
  if (options.smb) {
    if (auto allowed = policy.check_user_dir("smb", *options.smb); !allowed) return allowed;
  }
  for (const auto& rule : options.guestfwd.value_or(std::vector<qapi::String>{})) {
    auto parsed = user::parse_guestfwd(rule.str);
    if (!parsed) continue;
    if (auto allowed = policy.check_guestfwd_target(rule.str, parsed->target); !allowed) return allowed;
  }
  return {};
}

Created create_user(const qapi::Netdev& netdev, DaemonResources& r) {
  if (!r.frames) return generic_error("user netdev: this vnetd runs without a userspace datapath");
  const auto& options = std::get<qapi::NetdevUserOptions>(netdev.u);
  if (auto allowed = check_user_programs(options, r.programs); !allowed) return generic_error(allowed.error().message);
  auto made = user::UserBackend::create(options, *r.frames);
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

// vnetd is the back end, listening on chardev (a path): a deliberate
// difference from QEMU, the front end (docs/qmp-oracle.md).
Created create_vhost_user(const qapi::Netdev& netdev, DaemonResources& r) {
  const auto& options = std::get<qapi::NetdevVhostUserOptions>(netdev.u);
  // QEMU's net_init_vhost_user() order: the chardev, then the queue count
  // (its range and words).
  if (options.chardev.empty() || options.chardev[0] != '/') {
    return generic_error("vhost-user chardev '" + options.chardev +
                         "': vnetd listens on it, so it is the absolute path of a UNIX socket");
  }
  int64_t queues = options.queues.value_or(1);
  if (queues < 1 || queues > vhost_user::kMaxQueuePairs) {
    return generic_error("vhost-user number of queues must be in range [1, " +
                         std::to_string(vhost_user::kMaxQueuePairs) + "]");
  }
  if (!r.frames) return generic_error("vhost-user netdev: this vnetd runs without a userspace datapath");
  auto made = vhost_user::VhostUserBackend::create({options.chardev, static_cast<uint32_t>(queues)}, *r.frames);
  if (!made) return generic_error("vhost-user netdev '" + netdev.id + "': " + made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

Created create_vhost_vdpa(const qapi::Netdev& netdev) {
  auto made = vhost_vdpa::VhostVdpaBackend::create(std::get<qapi::NetdevVhostVDPAOptions>(netdev.u));
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

}  // namespace

Created create_backend(const qapi::Netdev& netdev, DaemonResources& resources, const BackendRequest& request) {
  using T = qapi::NetClientDriver;
  switch (netdev.type) {
    case T::hubport: return create_hubport(netdev, resources);
    case T::tap: return create_tap(netdev, resources, request);
    case T::bridge: return create_bridge(netdev, resources, request);
    case T::nic: return create_nic(netdev, resources, request);
    case T::vhost_vdpa: return create_vhost_vdpa(netdev);
    case T::vhost_user: return create_vhost_user(netdev, resources);
    case T::socket: return create_socket(netdev, resources, request);
    case T::l2tpv3: return create_l2tpv3(netdev, resources, request);
    case T::vde: return create_vde(netdev, resources);
    case T::user: return create_user(netdev, resources);
    case T::netmap: return create_netmap(netdev);
    default: return not_built_yet(netdev);
  }
}

}  // namespace vnet
