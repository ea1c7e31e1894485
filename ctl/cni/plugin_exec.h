// plugin_exec - running another CNI plugin as a delegate (SPEC.md section 4):
// found in CNI_PATH, given the configuration on stdin and our environment
// with CNI_COMMAND (and for GC's stale attachments the attachment's own
// CNI_* values) replaced, its stdout returned, its stderr going to ours.
#pragma once

#include <map>
#include <string>

#include "ctl/cni/cni_error.h"

namespace vnet::cni {

// The first directory of cni_path (':'-separated) holding an executable file
// named type; code 4 naming CNI_PATH when none does.
Expected<std::string> find_plugin(const std::string& type, const std::string& cni_path);

// Runs path with input on stdin and environment (NAME -> value) as its
// whole environment. On exit status 0: its stdout. Otherwise the CNI error
// it printed (code, msg, details passed on as they are), or code 103 saying
// how it ended when it printed none.
Expected<std::string> run_plugin(const std::string& path, const std::string& input,
                                 const std::map<std::string, std::string>& environment);

}  // namespace vnet::cni
