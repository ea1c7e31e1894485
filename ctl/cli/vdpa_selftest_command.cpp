#include "ctl/cli/vdpa_selftest_command.h"

#include <cerrno>
#include <cstdio>
#include <iostream>

#include "ctl/cli/qmp_client.h"

namespace vnet::cli {

Result<nlohmann::ordered_json> parse_selftest_args(const std::vector<std::string>& args) {
  if (args.empty()) return Error{EINVAL, "usage: vnetctl vdpa selftest DEV [frames N] [timeout MS]"};
  nlohmann::ordered_json out{{"dev", args[0]}};
  for (size_t i = 1; i < args.size(); i += 2) {
    const std::string& key = args[i];
    if (i + 1 >= args.size()) return Error{EINVAL, "'" + key + "' needs a value"};
    const std::string& value = args[i + 1];
    char* end = nullptr;
    errno = 0;
    long long number = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end || errno || number < 1) {
      return Error{EINVAL, "'" + key + "' wants a positive number, not '" + value + "'"};
    }
    if (key == "frames") out["frames"] = number;
    else if (key == "timeout") out["timeout-ms"] = number;
    else return Error{EINVAL, "unknown argument '" + key + "' (frames N, timeout MS)"};
  }
  return out;
}

std::string format_selftest(const nlohmann::ordered_json& result) {
  std::string out;
  for (const auto& pair : result.value("queue-pairs", nlohmann::ordered_json::array())) {
    char line[256];
    bool ok = !pair.contains("error") && pair.value("matched", 0) == pair.value("sent", -1);
    std::snprintf(line, sizeof line, "%s queue pair %lld: sent %lld received %lld matched %lld %s",
                  result.value("dev", "").c_str(), static_cast<long long>(pair.value("queue-pair", 0)),
                  static_cast<long long>(pair.value("sent", 0)), static_cast<long long>(pair.value("received", 0)),
                  static_cast<long long>(pair.value("matched", 0)), ok ? "ok" : "FAILED");
    out += line;
    if (pair.contains("error")) out += ": " + pair["error"].get<std::string>();
    out += "\n";
  }
  out += result.value("dev", "") + " (" + result.value("vhost-dev", "") + "): self-test " +
         (result.value("passed", false) ? "passed" : "FAILED") + "\n";
  return out;
}

int vdpa_selftest_command(const std::string& socket_path, const std::vector<std::string>& args, bool json_output) {
  auto arguments = parse_selftest_args(args);
  if (!arguments) {
    std::cerr << "vnetctl: " << arguments.error().message << "\n";
    return 1;
  }
  auto client = QmpClient::connect(socket_path);
  if (!client) {
    std::cerr << "vnetctl: " << client.error().message << "\n";
    return 1;
  }
  auto reply = client->execute("vdpa-selftest", *arguments);
  if (!reply) {
    std::cerr << "vnetctl: " << reply.error().message << "\n";
    return 1;
  }
  if (!reply->ok()) {
    std::cerr << "vnetctl: " << reply->error_desc() << "\n";
    return 1;
  }
  const auto& result = reply->message["return"];
  if (json_output) std::cout << result.dump() << "\n";
  else std::cout << format_selftest(result);
  return result.value("passed", false) ? 0 : 1;
}

}  // namespace vnet::cli
