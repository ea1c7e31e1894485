// MAC addresses as text: "52:54:00:12:34:56" (the form ip, QEMU and QMP use).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace vnet {

using MacBytes = std::array<uint8_t, 6>;

// Exactly six pairs of hex digits joined by ':'; nullopt for anything else
// (no signs or spaces, which sscanf's %x would take).
std::optional<MacBytes> parse_mac(const std::string& text);

}  // namespace vnet
