// QMP bytes as a client sends them -> JsonFramer -> Session -> the real
// command table (VnetdCommands) over a registry whose backends are fakes.
// Every framed text gets one well-formed reply; nothing crashes, leaks or
// trips a sanitizer. Seeds start with {"execute":"qmp_capabilities"}.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fake_daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vnet::fuzz::FakeDaemon daemon;
  daemon.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
