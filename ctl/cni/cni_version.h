// The CNI spec versions this plugin speaks, and how versions compare
// (libcni's version.GreaterThanOrEqualTo: semantic versions x.y.z).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace vnet::cni {

// Every version it speaks, oldest first, as VERSION lists them.
inline constexpr std::array<std::string_view, 7> kSupportedVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                                       "0.4.0", "1.0.0", "1.1.0"};
inline constexpr std::string_view kCurrentVersion = "1.1.0";

bool version_supported(std::string_view version);
// <0, 0 or >0 as a is older, the same or newer than b; nullopt when either
// is not MAJOR.MINOR.PATCH.
std::optional<int> compare_versions(std::string_view a, std::string_view b);
// a >= b, with false for a text that is not a version.
bool at_least(std::string_view a, std::string_view b);
// "[0.1.0 0.2.0 ...]", for error details.
std::string supported_versions_text();

}  // namespace vnet::cni
