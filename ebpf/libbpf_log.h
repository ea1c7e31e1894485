// libbpf's messages through vnetd's log (kernel_ifaces/log.h) instead of
// libbpf's default callback, which prints every warning straight to stderr.
#pragma once

namespace vnet::ebpf {

// install_libbpf_log() - libbpf_set_print() with our callback: libbpf's
// warnings become warning lines "libbpf: ...", its info and debug messages
// debug lines; a kernel extack text known to be benign is a debug line too.
// Call it once, early in main(), before any BPF object is opened.
void install_libbpf_log();

}  // namespace vnet::ebpf
