// bpf_links - what the tc and XDP attachments share about pinned BPF links:
// finding a link a daemon pinned before a restart, and pinning a new one.
#pragma once

#include <optional>
#include <string>

#include "ebpf/bpf_error.h"
#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet::ebpf {

// The link pinned at pin, with prog_fd swapped into it in one step, when it
// is still on ifindex. A link whose device is gone (defunct) or that is on
// another device is detached and its pin removed: nullopt, make a new one.
std::optional<UniqueFd> reuse_pinned_link(const std::string& pin, int ifindex, int prog_fd);

// Pins link at pin, replacing whatever was pinned there.
Result<void> pin_link(int link_fd, const std::string& pin);

// Detaches the link pinned at pin, if any, and removes the pin.
void detach_pinned_link(const std::string& pin);

}  // namespace vnet::ebpf
