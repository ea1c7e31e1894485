#include "backends/bridge/bridge_acl.h"

#include <fstream>
#include <sstream>

namespace vnet::bridge {

namespace {
constexpr int kMaxIncludeDepth = 8;  // an include loop is an error, not a hang
}

Result<BridgeAcl> BridgeAcl::load(const std::string& path) {
  BridgeAcl acl;
  if (auto loaded = load_into(path, 0, false, acl); !loaded) return loaded.take_error();
  return acl;
}

Result<BridgeAcl> BridgeAcl::parse(const std::string& text, const std::string& origin) {
  BridgeAcl acl;
  if (auto parsed = parse_into(text, origin, 0, acl); !parsed) return parsed.take_error();
  return acl;
}

Result<void> BridgeAcl::load_into(const std::string& path, int depth, bool must_exist, BridgeAcl& acl) {
  std::ifstream file(path);
  if (!file) {
    if (!must_exist && errno == ENOENT) return {};
    return errno_error("opening bridge ACL file " + path);
  }
  std::stringstream text;
  text << file.rdbuf();
  return parse_into(text.str(), path, depth, acl);
}

Result<void> BridgeAcl::parse_into(const std::string& text, const std::string& origin, int depth, BridgeAcl& acl) {
  if (depth > kMaxIncludeDepth) return Error{ELOOP, origin + ": includes nest deeper than 8"};
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); number++) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string command, argument, extra;
    if (!(words >> command)) continue;
    std::string where = origin + ":" + std::to_string(number);
    if (!(words >> argument) || (words >> extra)) {
      return Error{EINVAL, where + ": expected \"" + command + " NAME\""};
    }
    if (command == "allow" || command == "deny") {
      acl.rules_.push_back(Rule{command == "allow", argument});
    } else if (command == "include") {
      if (auto included = load_into(argument, depth + 1, true, acl); !included) {
        return Error{included.error().errnum, where + ": " + included.error().message};
      }
    } else {
      return Error{EINVAL, where + ": unknown command '" + command + "' in acl file"};
    }
  }
  return {};
}

bool BridgeAcl::allows(const std::string& bridge) const {
  bool allowed = false;
  for (const auto& rule : rules_) {
    if (rule.name != "all" && rule.name != bridge) continue;
    if (!rule.allow) return false;
    allowed = true;
  }
  return allowed;
}

}  // namespace vnet::bridge
