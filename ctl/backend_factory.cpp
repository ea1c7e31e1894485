#include "ctl/backend_factory.h"

#include <string>

namespace vnet {

namespace {

QmpResult<std::unique_ptr<Backend>> not_built_yet(const qapi::Netdev& netdev) {
  return generic_error("netdev type '" + std::string(to_string(netdev.type)) +
                       "' is not implemented in this vnetd yet");
}

QmpResult<std::unique_ptr<Backend>> create_hubport(const qapi::Netdev& netdev, BackendEnv& env) {
  const auto& options = std::get<qapi::NetdevHubPortOptions>(netdev.u);
  return std::unique_ptr<Backend>(env.hubs.add_port(options.hubid, netdev.id));
}

}  // namespace

QmpResult<std::unique_ptr<Backend>> create_backend(const qapi::Netdev& netdev, BackendEnv& env) {
  using T = qapi::NetClientDriver;
  switch (netdev.type) {
    case T::hubport: return create_hubport(netdev, env);
    default: return not_built_yet(netdev);
  }
}

}  // namespace vnet
