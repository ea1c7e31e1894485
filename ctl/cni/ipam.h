// ipam - delegating addresses to the configuration's IPAM plugin (SPEC.md
// section 4): the same environment and configuration the plugin got, with
// CNI_COMMAND set. Debian's containernetworking-plugins (1.1.1) speak CNI up
// to 1.0.0 and refuse a 1.1.0 configuration, while 1.0.0 and 1.1.0 results
// are the same format (libcni's types/100 "did not change between v1.0 and
// v1.1"): so ADD, DEL and CHECK go to the IPAM as 1.0.0 when the
// configuration is 1.1.0, and its 1.0.0 result is read as 1.1.0. STATUS and
// GC are 1.1.0 only: they go to an IPAM whose VERSION lists 1.1.0, and are
// skipped for others.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_config.h"
#include "ctl/cni/cni_error.h"
#include "ctl/cni/cni_result.h"

namespace vnet::cni {

// The version ADD, DEL and CHECK are delegated with for a configuration of
// config_version: 1.0.0 for 1.1.0, the same otherwise.
std::string delegate_version(const std::string& config_version);
// The request configuration as a delegate gets it: unchanged bytes, or with
// cniVersion (and prevResult's) lowered by delegate_version().
std::string delegate_config(const NetConf& conf);
// What is kept with the attachment to release its addresses later (GC):
// delegate_config() without prevResult, as an object.
nlohmann::ordered_json stored_delegate_config(const NetConf& conf);

class Ipam {
 public:
  // type: the IPAM's file name in cni_path; environment: this process's.
  Ipam(std::string type, std::string cni_path, std::map<std::string, std::string> environment)
      : type_(std::move(type)), cni_path_(std::move(cni_path)), environment_(std::move(environment)) {}

  const std::string& type() const { return type_; }
  // ADD: the addresses, routes and DNS it allocated; at least one address.
  Expected<SuccessResult> add(const std::string& config, const std::string& version);
  // DEL; overrides replace CNI_* variables (GC releasing a stale attachment
  // passes that attachment's CNI_CONTAINERID, CNI_IFNAME, ...).
  Expected<void> del(const std::string& config, const std::map<std::string, std::string>& overrides = {});
  Expected<void> check(const std::string& config);
  // Whether its VERSION lists version.
  Expected<bool> speaks(std::string_view version);
  Expected<void> status(const std::string& config);
  Expected<void> gc(const std::string& config);

 private:
  Expected<std::string> run(Command command, const std::string& config,
                            const std::map<std::string, std::string>& overrides = {});

  std::string type_;
  std::string cni_path_;
  std::map<std::string, std::string> environment_;
};

}  // namespace vnet::cni
