#include "ctl/cni/ipam.h"

#include "ctl/cni/cni_version.h"
#include "ctl/cni/plugin_exec.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

std::string delegate_version(const std::string& config_version) {
  return config_version == "1.1.0" ? "1.0.0" : config_version;
}

namespace {

json lowered(const NetConf& conf) {
  json config = conf.raw;
  std::string version = delegate_version(conf.cni_version);
  if (version != conf.cni_version) {
    config["cniVersion"] = version;
    if (config.contains("prevResult") && config["prevResult"].is_object() &&
        config["prevResult"].contains("cniVersion")) {
      config["prevResult"]["cniVersion"] = version;
    }
  }
  return config;
}

}  // namespace

std::string delegate_config(const NetConf& conf) {
  if (delegate_version(conf.cni_version) == conf.cni_version) return conf.raw_text;
  return lowered(conf).dump();
}

json stored_delegate_config(const NetConf& conf) {
  json config = lowered(conf);
  config.erase("prevResult");
  return config;
}

Expected<std::string> Ipam::run(Command command, const std::string& config,
                                const std::map<std::string, std::string>& overrides) {
  auto path = find_plugin(type_, cni_path_);
  if (!path) return tl::unexpected(path.error());
  auto environment = environment_;
  environment["CNI_COMMAND"] = command_name(command);
  for (const auto& [name, value] : overrides) environment[name] = value;
  auto output = run_plugin(*path, config, environment);
  if (!output) {
    CniError error = output.error();
    // Say who failed, keeping the IPAM's own code.
    if (error.details.empty()) {
      error.details = "from the IPAM plugin " + type_ + " (" + command_name(command) + ")";
    } else {
      error.details = type_ + " (" + command_name(command) + "): " + error.details;
    }
    return tl::unexpected(std::move(error));
  }
  return output;
}

Expected<SuccessResult> Ipam::add(const std::string& config, const std::string& version) {
  auto output = run(Command::add, config);
  if (!output) return tl::unexpected(output.error());
  auto parsed = json::parse(*output, nullptr, false);
  if (parsed.is_discarded()) {
    return fail(kDecodingFailure, "the IPAM plugin " + type_ + " answered ADD with something that is not JSON",
                output->substr(0, 2000));
  }
  auto result = parse_result(parsed, version);
  if (!result) {
    CniError error = result.error();
    error.msg = "the IPAM plugin " + type_ + "'s result: " + error.msg;
    return tl::unexpected(std::move(error));
  }
  if (result->ips.empty()) return fail(kDelegateFailed, "IPAM plugin " + type_ + " returned missing IP config");
  // Delegated IPAM results name no interfaces (SPEC.md, "Delegated plugins").
  result->interfaces.clear();
  return result;
}

Expected<void> Ipam::del(const std::string& config, const std::map<std::string, std::string>& overrides) {
  auto output = run(Command::del, config, overrides);
  if (!output) return tl::unexpected(output.error());
  return {};
}

Expected<void> Ipam::check(const std::string& config) {
  auto output = run(Command::check, config);
  if (!output) return tl::unexpected(output.error());
  return {};
}

Expected<bool> Ipam::speaks(std::string_view version) {
  json request = {{"cniVersion", std::string(kCurrentVersion)}};
  auto output = run(Command::version, request.dump());
  if (!output) return tl::unexpected(output.error());
  auto answer = json::parse(*output, nullptr, false);
  if (!answer.is_object() || !answer.contains("supportedVersions") || !answer["supportedVersions"].is_array()) {
    return fail(kDecodingFailure, "the IPAM plugin " + type_ + " answered VERSION without supportedVersions",
                output->substr(0, 2000));
  }
  for (const auto& supported : answer["supportedVersions"]) {
    if (supported.is_string() && supported.get<std::string>() == version) return true;
  }
  return false;
}

Expected<void> Ipam::status(const std::string& config) {
  auto output = run(Command::status, config);
  if (!output) return tl::unexpected(output.error());
  return {};
}

Expected<void> Ipam::gc(const std::string& config) {
  auto output = run(Command::gc, config);
  if (!output) return tl::unexpected(output.error());
  return {};
}

}  // namespace vnet::cni
