// attachment_result - the result ADD returns, from its parts: prevResult
// (when the plugin is not first in a chain: passed on, SPEC.md section 5),
// the tap in its sandbox appended to the interfaces, the IPAM's addresses
// pointing at it, the IPAM's routes, and DNS (the configuration's, else the
// IPAM's, else prevResult's, as the reference bridge and tap plugins let the
// configuration's win).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctl/cni/cni_result.h"

namespace vnet::cni {

// The tap's entry; returns the result and sets *index to the tap's place in
// its interfaces.
SuccessResult build_add_result(const std::optional<SuccessResult>& prev, const Interface& tap,
                               const std::optional<SuccessResult>& ipam, const Dns& config_dns, size_t* index);

// CHECK's view of prevResult: the index of the interface named ifname in
// sandbox netns, or nullopt when prevResult lists none.
std::optional<size_t> find_interface(const SuccessResult& prev, const std::string& ifname, const std::string& netns);

}  // namespace vnet::cni
