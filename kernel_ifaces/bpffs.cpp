#include "kernel_ifaces/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>

namespace vnet::bpffs {

Result<bool> ensure_mounted(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return errno_error("mkdir " + dir);
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) < 0) return errno_error("statfs " + dir);
  if (fs.f_type == BPF_FS_MAGIC) return false;
  if (mount("bpf", dir.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0) {
    return errno_error("mounting a bpffs on " + dir);
  }
  return true;
}

Result<void> unmount(const std::string& dir) {
  if (umount2(dir.c_str(), MNT_DETACH) < 0) return errno_error("unmounting " + dir);
  return {};
}

}  // namespace vnet::bpffs
