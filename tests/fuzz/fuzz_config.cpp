// vnetd --config: the TOML text through toml++ and vnetd's checks (known
// keys, netdevs and rule templates through the schema's decoder). A bad
// file is an error naming the file and line, never a crash; what it accepts,
// vnetd can use: rule templates filled in and every netdev's arguments
// written as JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ctl/config/daemon_config.h"
#include "tests/fuzz/fake_daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vnet::fuzz::contract_broken;
  auto config = vnet::config::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  if (!config) {
    if (config.error().message.rfind("fuzz.toml:", 0) != 0) {
      contract_broken("an error that does not name the file: " + config.error().message);
    }
    return 0;
  }
  for (const auto& netdev : config->netdevs) (void)netdev.arguments.dump();
  for (const auto& rule : config->rules) {
    if (rule.netdev) (void)vnet::config::fill_template(*rule.netdev, "fz0").dump();
    if (rule.nic) (void)vnet::config::fill_template(*rule.nic, "fz0").dump();
  }
  return 0;
}
