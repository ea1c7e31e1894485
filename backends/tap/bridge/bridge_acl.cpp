#include "backends/tap/bridge/bridge_acl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::bridge {

namespace {
constexpr int kMaxIncludeDepth = 8;    // an include loop is an error, not a hang
constexpr int kMaxFiles = 64;          // and so is a fan-out of includes
constexpr off_t kMaxFileBytes = 1 << 20;  // an ACL is a few lines
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

// Regular files only: a FIFO would hang the start, /dev/zero never end, and a
// directory read as an empty file would silently deny everything.
Result<void> BridgeAcl::load_into(const std::string& path, int depth, bool must_exist, BridgeAcl& acl) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (!must_exist && errno == ENOENT) return {};
    return errno_error("opening bridge ACL file " + path);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return errno_error("fstat of bridge ACL file " + path);
  if (!S_ISREG(st.st_mode)) return Error{EINVAL, "bridge ACL file " + path + " is not a regular file"};
  if (st.st_size > kMaxFileBytes) {
    return Error{EFBIG, "bridge ACL file " + path + " is larger than " + std::to_string(kMaxFileBytes) + " bytes"};
  }
  if (++acl.files_read_ > kMaxFiles) {
    return Error{ELOOP, path + ": more than " + std::to_string(kMaxFiles) + " bridge ACL files included in all"};
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading bridge ACL file " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return parse_into(text, path, depth, acl);
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
