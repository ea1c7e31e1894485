// Option parsing for vnetctl: QEMU's -netdev syntax ("tap,id=t0,queues=2",
// ",," for a literal comma, repeated keys for list members) and key=value
// words, typed by the schema's own type table (generated from ctl/schema/),
// so no netdev type needs code of its own here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/result.h"

namespace vnet::cli {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// "a,b=c,,d" -> {"a", "b=c,d"}
std::vector<std::string> split_options(const std::string& text);

// The arguments of netdev_add from QEMU's -netdev syntax.
Result<nlohmann::ordered_json> parse_netdev(const std::string& text);

// Arguments of a command (or members of a struct type) from key=value pairs.
Result<nlohmann::ordered_json> parse_arguments(const KeyValues& pairs, const std::string& type,
                                               const std::string& tag_value = "");

// As QEMU's parsers: qapi_bool_parse(), qemu_strtou64()/strtoi64() with base
// 0, qemu_strtosz() (B, K, M, G, T, P, E, powers of 1024, fractions).
Result<bool> parse_bool(const std::string& key, const std::string& value);
Result<uint64_t> parse_size(const std::string& key, const std::string& value);

// The arg type of a command in the schema ("" when it takes none).
std::string command_arg_type(const std::string& command);

// For shell completion: the schema's netdev types, and the option keys of one
// ("type" and "id" included), in the schema's order.
std::vector<std::string> netdev_types();
std::vector<std::string> netdev_keys(const std::string& type);

}  // namespace vnet::cli
