// to_qemu_json() - writes JSON as QEMU's qobject_to_json() does: members in
// QDict order, ", " and ": " separators, so that our replies are byte-equal
// to QEMU's where the values are equal.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace vnet::qmp {

std::string to_qemu_json(const nlohmann::ordered_json& value);

// A value that to_qemu_json() writes as the given JSON text (for replies
// rendered in parts, so that no tree of the whole reply is built).
nlohmann::ordered_json prerendered_json(const std::string& text);

}  // namespace vnet::qmp
