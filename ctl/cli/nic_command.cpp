#include "ctl/cli/nic_command.h"

#include <cerrno>

namespace vnet::cli {

Result<nlohmann::ordered_json> anti_spoof_arguments(const std::vector<std::string>& words) {
  if (words.size() < 3 || words[0] != "anti-spoof" || (words[2] != "on" && words[2] != "off")) {
    return Error{EINVAL, kNicUsage};
  }
  bool on = words[2] == "on";
  nlohmann::ordered_json args{{"name", words[1]}, {"enable", on}};
  std::vector<std::string> allowed;
  for (size_t i = 3; i < words.size(); i++) {
    const std::string& word = words[i];
    if (!on) return Error{EINVAL, "nic anti-spoof ... off takes no options (got '" + word + "')"};
    if ((word == "--allow" || word == "--other") && i + 1 == words.size()) {
      return Error{EINVAL, word + " needs a value"};
    }
    if (word == "--allow") {
      allowed.push_back(words[++i]);
    } else if (word == "--other") {
      const std::string& mode = words[++i];
      if (mode != "allow" && mode != "drop") return Error{EINVAL, "--other takes allow or drop, not '" + mode + "'"};
      args["other-ethertypes"] = mode;
    } else {
      return Error{EINVAL, "unknown option '" + word + "'; " + kNicUsage};
    }
  }
  if (on) args["allowed-ips"] = allowed;
  return args;
}

}  // namespace vnet::cli
