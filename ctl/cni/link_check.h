// link_check - CHECK's comparison (SPEC.md, "CHECK"): the interface prevResult
// lists for this attachment against what its namespace holds. Routes are
// checked to exist, not to be the only ones: a later plugin in the chain may
// have added more.
#pragma once

#include <string>
#include <vector>

#include "ctl/cni/cni_result.h"
#include "ctl/cni/link_config.h"

namespace vnet::cni {

// Every way the namespace differs from prevResult's interface at index (its
// mac, mtu, link up, the addresses pointing at it) and prevResult's routes;
// empty when it matches.
std::vector<std::string> check_mismatches(const ObservedInterface& seen, const SuccessResult& prev, size_t index);

}  // namespace vnet::cni
