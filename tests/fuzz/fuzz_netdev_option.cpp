// vnetctl's -netdev option parser: QEMU's "tap,id=t0,queues=2" syntax typed
// by the schema. Whatever it accepts, vnetctl sends as JSON (QmpClient
// writes request.dump()): that must work too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ctl/cli/option_parser.h"
#include "tests/fuzz/fake_daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto args = vnet::cli::parse_netdev(text);
  if (!args) {
    if (args.error().message.empty()) vnet::fuzz::contract_broken("an error without a message");
    return 0;
  }
  if (!args->is_object()) vnet::fuzz::contract_broken("netdev_add arguments that are not an object");
  (void)nlohmann::ordered_json{{"execute", "netdev_add"}, {"arguments", *args}}.dump();
  return 0;
}
