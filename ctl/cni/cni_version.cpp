#include "ctl/cni/cni_version.h"

#include <algorithm>
#include <charconv>

namespace vnet::cni {

namespace {

std::optional<std::array<unsigned long, 3>> parse(std::string_view text) {
  std::array<unsigned long, 3> parts{};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (size_t i = 0; i < parts.size(); i++) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      p++;
    }
    auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc() || next == p) return std::nullopt;
    p = next;
  }
  if (p != end) return std::nullopt;
  return parts;
}

}  // namespace

bool version_supported(std::string_view version) {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) != kSupportedVersions.end();
}

std::optional<int> compare_versions(std::string_view a, std::string_view b) {
  auto pa = parse(a);
  auto pb = parse(b);
  if (!pa || !pb) return std::nullopt;
  if (*pa < *pb) return -1;
  if (*pa > *pb) return 1;
  return 0;
}

bool at_least(std::string_view a, std::string_view b) {
  auto compared = compare_versions(a, b);
  return compared && *compared >= 0;
}

std::string supported_versions_text() {
  std::string out = "[";
  for (auto version : kSupportedVersions) {
    if (out.size() > 1) out += ' ';
    out += version;
  }
  return out + "]";
}

}  // namespace vnet::cni
