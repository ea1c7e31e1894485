// parse_qemu_json() - reads one JSON text as QEMU's json-parser does: it
// also takes single-quoted strings and the escape \' , and refuses an
// object with a duplicate key ("JSON parse error, duplicate key").
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace vnet::qmp {

// On failure returns nullopt and sets error to the QMP desc.
std::optional<nlohmann::ordered_json> parse_qemu_json(const std::string& text, std::string& error);

}  // namespace vnet::qmp
