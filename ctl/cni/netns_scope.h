// netns_scope - CNI_NETNS for the plugin: the container's network namespace
// checked, entered for as long as a scope lasts (as the reference plugins'
// ns.Do()), and compared, over kernel_ifaces/netns, with its failures as the
// spec's code 4 (the variable's value is not usable). Sockets opened in the
// scope (rtnetlink) and /proc/sys/net files opened in it belong to that
// namespace.
#pragma once

#include <memory>
#include <string>

#include "ctl/cni/cni_error.h"
#include "kernel_ifaces/netns.h"

namespace vnet::cni {

class NetnsScope {
 public:
  // Enters the network namespace at path; code 4 (CNI_NETNS) when the path
  // is not one.
  static Expected<NetnsScope> enter(const std::string& path);
  // Leaving the scope returns the thread to the namespace it was in.

 private:
  explicit NetnsScope(netns::ScopedNetns inside) : inside_(std::move(inside)) {}
  netns::ScopedNetns inside_;
};

// ADD's check of CNI_NETNS before anything is made: a network namespace, and
// not the plugin's own (libcni's skel refuses that too: a tap named eth0 in
// the host's namespace is not what a runtime meant). Code 4 otherwise.
Expected<void> check_container_netns(const std::string& path);

// Whether path still names a network namespace (false once it is deleted).
bool netns_exists(const std::string& path);

// Whether two paths name one namespace: the same text, or the same nsfs
// inode (/var/run/netns/X and /proc/PID/ns/net of a process in it).
bool same_netns(const std::string& a, const std::string& b);

}  // namespace vnet::cni
