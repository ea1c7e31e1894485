// vnetctl-cni's stdin: the network configuration a runtime writes, with the
// prevResult of earlier plugins in it, read for every command. A bad one is
// a CNI error JSON (a code of the spec's or the plugin's), never a crash;
// a prevResult it accepts converts to every version it speaks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ctl/cni/cni_config.h"
#include "ctl/cni/cni_result.h"
#include "ctl/cni/cni_version.h"
#include "tests/fuzz/fake_daemon.h"

namespace {

bool known_code(unsigned code) { return (code >= 1 && code <= 11) || (code >= 50 && code <= 51) || (code >= 100 && code <= 104) || code == 999; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vnet::cni;
  using vnet::fuzz::contract_broken;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (Command command : {Command::add, Command::del, Command::check, Command::status, Command::gc}) {
    auto conf = parse_config(text, command);
    if (!conf) {
      if (!known_code(conf.error().code)) contract_broken("error code " + std::to_string(conf.error().code));
      if (conf.error().msg.empty()) contract_broken("an error without a message");
      continue;
    }
    (void)effective_mac(*conf, CniEnv{});
    if (conf->prev_result.is_null()) continue;
    auto result = parse_result(conf->prev_result, "1.1.0");
    if (!result) continue;
    for (std::string_view version : kSupportedVersions) (void)result_json(*result, version);
  }
  return 0;
}
