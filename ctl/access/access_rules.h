// AccessRule - one [[allow]] table of `vnetd --access FILE` (or of the
// --config file): which non-root peer, by SO_PEERCRED uid or primary gid,
// may run which commands, and whether only on netdevs whose tap it owns.
// The parser is shared by both files; errors name the file, the line and the
// key, as the --config parser's do (docs/access.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "kernel_ifaces/result.h"

namespace vnet::access {

// The highest uid or gid a rule may name: (uid_t)-1 is "no id" to the kernel.
inline constexpr int64_t kMaxId = 4294967294;

struct AccessRule {
  std::string where;               // "FILE:LINE", for logs and errors
  std::optional<uint32_t> uid;     // exactly one of uid and gid is set
  std::optional<uint32_t> gid;     // the peer's primary gid (SO_PEERCRED)
  std::vector<std::string> commands;  // names, or prefixes ending in '*'
  bool owned = false;              // only on netdevs whose tap the peer's uid owns
};

// One [[allow]] table.
Result<AccessRule> parse_allow(const std::string& path, const toml::table& table);

// A whole --access file: nothing but [[allow]] tables.
Result<std::vector<AccessRule>> load_access_file(const std::string& path);
Result<std::vector<AccessRule>> parse_access(std::string_view text, const std::string& path);

// "query-*" matches every command that starts with "query-"; "*" matches all.
bool command_matches(std::string_view pattern, std::string_view command);

}  // namespace vnet::access
