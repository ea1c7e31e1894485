// BridgeAcl - which bridges taps may join, in qemu-bridge-helper's file
// format: "allow NAME", "deny NAME", "allow all", "deny all",
// "include FILE", '#' comments. Deny wins; no file or no match denies.
#pragma once

#include <string>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet::bridge {

class BridgeAcl {
 public:
  // A missing file gives an ACL that denies everything; a malformed one is an error.
  static Result<BridgeAcl> load(const std::string& path);
  static Result<BridgeAcl> parse(const std::string& text, const std::string& origin);

  bool allows(const std::string& bridge) const;

 private:
  struct Rule {
    bool allow;
    std::string name;  // "all" matches every bridge
  };
  static Result<void> parse_into(const std::string& text, const std::string& origin, int depth, BridgeAcl& acl);
  static Result<void> load_into(const std::string& path, int depth, bool must_exist, BridgeAcl& acl);

  std::vector<Rule> rules_;
  int files_read_ = 0;  // the file and its includes, for the fan-out bound
};

}  // namespace vnet::bridge
