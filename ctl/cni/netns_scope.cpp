#include "ctl/cni/netns_scope.h"

namespace vnet::cni {

namespace {

tl::unexpected<CniError> not_usable(const Error& error) {
  return fail(kInvalidEnvironment, "CNI_NETNS: " + error.message);
}

}  // namespace

Expected<NetnsScope> NetnsScope::enter(const std::string& path) {
  auto target = netns::Netns::open(path);
  if (!target) return not_usable(target.error());
  auto inside = netns::ScopedNetns::enter((*target)->fd(), "CNI_NETNS " + path);
  if (!inside) return not_usable(inside.error());
  return NetnsScope(std::move(*inside));
}

Expected<void> check_container_netns(const std::string& path) {
  auto theirs = netns::identify(path);
  if (!theirs) return not_usable(theirs.error());
  auto ours = netns::identify("/proc/thread-self/ns/net");
  if (!ours) return fail(kIoFailure, "the plugin's own network namespace: " + ours.error().message);
  if (*theirs == *ours) {
    return fail(kInvalidEnvironment, "plugin's netns and netns from CNI_NETNS should not be the same", path);
  }
  return {};
}

bool netns_exists(const std::string& path) { return netns::identify(path).has_value(); }

bool same_netns(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto ida = netns::identify(a);
  auto idb = netns::identify(b);
  return ida && idb && *ida == *idb;
}

}  // namespace vnet::cni
