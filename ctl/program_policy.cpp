#include "ctl/program_policy.h"

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <optional>
#include <sstream>

namespace vnet {

namespace {

constexpr char kSeeDocs[] = " (see docs/security.md)";

std::string joined(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::optional<std::string> canonical(const std::string& path) {
  char resolved[PATH_MAX];
  if (!realpath(path.c_str(), resolved)) return std::nullopt;
  return std::string(resolved);
}

// Only root may change what runs as root: a file or directory that another
// user could write would let that user choose the program.
std::optional<std::string> writable_by_others(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) < 0) return path + " cannot be read";
  if (st.st_uid != 0) return path + " is not owned by root";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return path + " is writable by group or others";
  return std::nullopt;
}

// The canonical form of path if it is one of dirs or lies below one (each
// canonical too), else why not. Programs must also be root's and writable by
// root alone, and so must the directory they are in.
Result<std::string> inside(const std::string& what, const std::string& path, const std::vector<std::string>& dirs,
                           const std::string& setting, bool program) {
  auto refuse = [&](const std::string& why) { return Error{EPERM, what + ": refused: " + why + kSeeDocs}; };
  if (path.empty() || path.front() != '/') {
    return refuse("not an absolute path (vnetd resolves no path against its working directory)");
  }
  auto resolved = canonical(path);
  if (!resolved) return refuse(path + " does not exist");
  for (const auto& dir : dirs) {
    auto root = canonical(dir);
    if (!root) continue;
    if (!program && *resolved == *root) return *resolved;
    if (resolved->rfind(*root == "/" ? "/" : *root + "/", 0) != 0) continue;
    if (!program) return *resolved;
    if (auto why = writable_by_others(*root)) return refuse(*why);
    if (auto why = writable_by_others(*resolved)) return refuse(*why);
    return *resolved;
  }
  return refuse("not in a directory " + setting + " allows (" + joined(dirs) + ")");
}

}  // namespace

Result<std::string> ProgramPolicy::check_script(const std::string& option, const std::string& path) const {
  return inside(option + "=" + path, path, script_dirs, "script-dirs", true);
}

Result<std::vector<std::string>> ProgramPolicy::check_helper(const std::string& helper) const {
  // QEMU hands a helper with arguments to /bin/sh -c with br= pasted in; a
  // shell would read whatever a client put in br=. Words, no shell.
  std::vector<std::string> words;
  std::istringstream in(helper);
  for (std::string word; in >> word;) words.push_back(word);
  if (words.empty()) return Error{EPERM, "helper=: refused: empty" + std::string(kSeeDocs)};
  auto program = inside("helper=" + words.front(), words.front(), helper_dirs, "helper-dirs", true);
  if (!program) return program.take_error();
  words.front() = *program;
  return words;
}

Result<void> ProgramPolicy::check_vde_url(const std::string& url) const {
  // libvdeplug: "SCHEME://..." picks a plugin; anything else is a switch's
  // directory, which the vde plugin opens.
  size_t colon = url.find("://");
  std::string scheme = colon == std::string::npos ? "vde" : url.substr(0, colon);
  bool allowed = std::any_of(vde_plugins.begin(), vde_plugins.end(),
                             [&](const std::string& p) { return p == "*" || p == scheme; });
  if (allowed) return {};
  return Error{EPERM, "sock=" + url + ": refused: libvdeplug plugin '" + scheme + "' is not in vde-plugins (" +
                          joined(vde_plugins) + ")" + kSeeDocs};
}

Result<void> ProgramPolicy::check_guestfwd_target(const std::string& rule, const std::string& target) const {
  if (target.rfind("cmd:", 0) != 0 || user_guestfwd_cmd) return {};
  return Error{EPERM, "guestfwd=" + rule + ": refused: cmd: targets run a command as root for every guest "
                      "connection; user-guestfwd-cmd is off" + kSeeDocs};
}

Result<void> ProgramPolicy::check_user_dir(const std::string& option, const std::string& path) const {
  auto dir = inside(option + "=" + path, path, user_dirs, "user-dirs", false);
  if (!dir) return dir.take_error();
  return {};
}

}  // namespace vnet
