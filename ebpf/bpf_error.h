// bpf_error - a libbpf return value (-errno, or an errno) as an Error.
#pragma once

#include <string>

#include "kernel_ifaces/result.h"

namespace vnet::ebpf {

inline Error bpf_error(int err, const std::string& what) { return Error::from_errno(err < 0 ? -err : err, what); }

}  // namespace vnet::ebpf
