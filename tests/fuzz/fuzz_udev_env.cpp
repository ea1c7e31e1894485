// `vnetctl udev`: udev's environment (ACTION, SUBSYSTEM, DEVPATH, INTERFACE,
// IFINDEX, ...) made into udev-event's arguments, then sent to the daemon
// (the fake one) as vnetctl sends it. What vnetctl builds, the daemon must
// accept; what it refuses is a clean error.
//
// Input: the environment as KEY=VALUE lines (or NUL-separated, as
// /proc/PID/environ); a later KEY wins, as in an environment.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "ctl/cli/udev_event.h"
#include "tests/fuzz/fake_daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vnet::fuzz::contract_broken;
  std::map<std::string, std::string> environment;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) {
    size_t end = input.find_first_of(std::string_view("\n\0", 2));
    std::string_view entry = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    if (size_t eq = entry.find('='); eq != std::string_view::npos && eq > 0) {
      environment[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
    }
  }
  auto event = vnet::cli::udev_event_from_env([&](const char* name) {
    auto it = environment.find(name);
    return it == environment.end() ? std::string() : it->second;
  });
  if (!event) return 0;
  vnet::fuzz::FakeDaemon daemon;
  daemon.ask(R"({"execute":"qmp_capabilities"})");
  nlohmann::ordered_json request{{"execute", "udev-event"}, {"arguments", *event}};
  auto reply = daemon.ask(request.dump());
  if (!reply.contains("return")) contract_broken("the daemon refused what vnetctl udev sent: " + reply.dump());
  return 0;
}
