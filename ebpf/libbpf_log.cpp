#include "ebpf/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

#include "kernel_ifaces/log.h"

namespace vnet::ebpf {

namespace {

// Kernel extack texts that libbpf prints as warnings for failures we expect
// and handle. bpf_tc_hook_create() on a device that has a clsact qdisc
// already (ours from before a restart, or someone else's) draws this one:
// libbpf asks for NLM_F_EXCL, and the kernel's tc_modify_qdisc() refuses
// with -EEXIST, which attach_cls_bpf() (tc_ingress.cpp) takes as "there
// already".
constexpr std::string_view kBenignKernelMessages[] = {
    "Exclusivity flag on, cannot modify",
};

bool benign(std::string_view text) {
  for (std::string_view known : kBenignKernelMessages) {
    if (text.find(known) != std::string_view::npos) return true;
  }
  return false;
}

// libbpf's printf-style message as one string, without its trailing newline.
std::string format_message(const char* format, va_list args) {
  va_list measure;
  va_copy(measure, args);
  int length = std::vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (length <= 0) return {};
  std::string text(static_cast<size_t>(length) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), format, args);
  text.resize(static_cast<size_t>(length));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The callback libbpf_set_print() is given. libbpf's own messages start with
// "libbpf: " already (its pr_warn() and friends add it); one that does not
// gets it, so that every line says where it came from.
int print_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
  // libbpf's INFO is chatty (a line per object loaded): debug, as DEBUG is.
  log::Level ours = level == LIBBPF_WARN ? log::Level::warning : log::Level::debug;
  if (!log::enabled(ours)) return 0;
  std::string text = format_message(format, args);
  if (ours == log::Level::warning && benign(text)) {
    ours = log::Level::debug;
    if (!log::enabled(ours)) return 0;
  }
  constexpr std::string_view kPrefix = "libbpf: ";
  if (text.compare(0, kPrefix.size(), kPrefix) != 0) text.insert(0, kPrefix);
  log::write(ours, text);
  return static_cast<int>(text.size());
}

}  // namespace

void install_libbpf_log() { libbpf_set_print(print_libbpf_message); }

}  // namespace vnet::ebpf
