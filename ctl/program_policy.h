// ProgramPolicy - what a client may make vnetd run or serve as root: tap
// scripts, bridge helpers, libvdeplug plugins, slirp's guestfwd commands and
// its tftp=/smb= directories. QEMU runs whatever path it is given, but QEMU
// rarely runs as root; vnetd always does, so each of these is refused unless
// the daemon's configuration allows it (docs/security.md).
//
// Checked where the backend is made (ctl/backend_factory.cpp), before any
// device exists, so a refusal changes nothing.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet {

struct ProgramPolicy {
  // script= and downscript= run only from these directories (absolute).
  std::vector<std::string> script_dirs{"/etc/vnetctl/scripts"};
  // helper= (tap and bridge) runs only from these: qemu-bridge-helper's home.
  std::vector<std::string> helper_dirs{"/usr/lib/qemu"};
  // How long a script or helper may run; it is killed then.
  std::chrono::milliseconds script_timeout{30000};
  // libvdeplug URL schemes a vde netdev may use ("vde" also covers a plain
  // switch directory). cmd:// runs a command, tap:// takes any host link.
  // "*" allows every plugin.
  std::vector<std::string> vde_plugins{"vde", "null"};
  // user netdevs: guestfwd=...-cmd: runs a shell command for every
  // connection the guest opens.
  bool user_guestfwd_cmd = false;
  // user netdevs: tftp= and smb= serve only directories under these.
  std::vector<std::string> user_dirs;

  // The canonical path of a script= or downscript= program that may run, or
  // why not. `option` names the option in the error ("script").
  Result<std::string> check_script(const std::string& option, const std::string& path) const;
  // The same for helper=: its first word (a helper with arguments is split on
  // spaces and run without a shell).
  Result<std::vector<std::string>> check_helper(const std::string& helper) const;
  Result<void> check_vde_url(const std::string& url) const;
  // A guestfwd rule's target (what follows its '-').
  Result<void> check_guestfwd_target(const std::string& rule, const std::string& target) const;
  Result<void> check_user_dir(const std::string& option, const std::string& path) const;
};

}  // namespace vnet
