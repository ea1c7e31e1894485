#include "ctl/backend_factory.h"

#include <string>

#include "backends/tap/tap_backend.h"
#include "backends/tap/tap_plan.h"

namespace vnet {

namespace {

using Created = QmpResult<std::unique_ptr<Backend>>;
using TakeFd = std::function<std::optional<UniqueFd>(const std::string&)>;

Created not_built_yet(const qapi::Netdev& netdev) {
  return generic_error("netdev type '" + std::string(to_string(netdev.type)) +
                       "' is not implemented in this vnetd yet");
}

Created from(Result<std::unique_ptr<tap::TapBackend>> made) {
  if (!made) return generic_error(made.error().message);
  return std::unique_ptr<Backend>(std::move(made.value()));
}

Created create_hubport(const qapi::Netdev& netdev, DaemonResources& r) {
  const auto& options = std::get<qapi::NetdevHubPortOptions>(netdev.u);
  return std::unique_ptr<Backend>(r.hubs.add_port(options.hubid, netdev.id));
}

Created create_tap(const qapi::Netdev& netdev, DaemonResources& r, const TakeFd& take_named_fd) {
  auto plan = tap::plan_tap(std::get<qapi::NetdevTapOptions>(netdev.u));
  if (!plan) return generic_error(plan.error().message);
  tap::TapEnv env{r.teardown, r.rtnl, r.bridge_acl, take_named_fd};
  return from(tap::TapBackend::create(*plan, env));
}

// The bridge netdev: a new tap on a bridge, natively unless helper= names an
// external helper (QEMU always runs qemu-bridge-helper).
Created create_bridge(const qapi::Netdev& netdev, DaemonResources& r, const TakeFd& take_named_fd) {
  const auto& options = std::get<qapi::NetdevBridgeOptions>(netdev.u);
  tap::TapPlan plan;
  plan.bridge = options.br.value_or(tap::kDefaultBridge);
  if (options.helper) {
    plan.source = tap::Source::helper;
    plan.helper = *options.helper;
  }
  tap::TapEnv env{r.teardown, r.rtnl, r.bridge_acl, take_named_fd};
  return from(tap::TapBackend::create(plan, env));
}

}  // namespace

Created create_backend(const qapi::Netdev& netdev, DaemonResources& resources, const TakeFd& take_named_fd) {
  using T = qapi::NetClientDriver;
  switch (netdev.type) {
    case T::hubport: return create_hubport(netdev, resources);
    case T::tap: return create_tap(netdev, resources, take_named_fd);
    case T::bridge: return create_bridge(netdev, resources, take_named_fd);
    default: return not_built_yet(netdev);
  }
}

}  // namespace vnet
