// vdpa-selftest: the vDPA self-test (virtio/vdpa_selftest.h), run by
// the daemon on a device bound to vhost_vdpa.
#include "ctl/commands/vnetd_commands.h"
#include "virtio/vdpa_selftest.h"
#include "kernel_ifaces/vdpa_sysfs.h"

namespace vnet {

namespace {
constexpr int64_t kMaxSelftestTimeoutMs = 10000;
}  // namespace

QmpResult<qapi::VdpaSelftestResult> VnetdCommands::qmp_vdpa_selftest(qapi::CommandContext&,
                                                                     const qapi::VdpaSelftestArgs& args) {
  // The name goes into sysfs paths: a vDPA device's name, nothing else.
  if (args.dev.empty() || args.dev == "." || args.dev == ".." || args.dev.size() > 255 ||
      args.dev.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:") !=
          std::string::npos) {
    return generic_error("'" + args.dev + "' is not a vDPA device name");
  }
  // The self-test holds vnetd's loop while it waits for frames.
  if (args.timeout_ms && *args.timeout_ms > kMaxSelftestTimeoutMs) {
    return generic_error("timeout-ms: at most " + std::to_string(kMaxSelftestTimeoutMs) +
                         " (vnetd serves no one else while the self-test waits)");
  }
  auto driver = vdpa::bound_driver(args.dev);
  if (!driver) return generic_error("vdpa device '" + args.dev + "': " + driver.error().message);
  if (*driver != "vhost_vdpa") {
    return generic_error("vdpa device '" + args.dev + "' is bound to " +
                         (driver->empty() ? std::string("no driver") : "driver '" + *driver + "'") +
                         ", not vhost_vdpa: bind it with `vnetctl vdpa dev driver set " + args.dev + " vhost_vdpa`");
  }
  auto node = vdpa::vhost_vdpa_node(args.dev);
  if (!node) return generic_error("vdpa device '" + args.dev + "': " + node.error().message);
  vdpa::SelftestOptions options;
  if (args.frames) options.frames = static_cast<int>(std::clamp<int64_t>(*args.frames, -1, 1 << 20));
  if (args.timeout_ms) options.timeout_ms = static_cast<int>(std::clamp<int64_t>(*args.timeout_ms, -1, 600000));
  auto results = vdpa::run_selftest(*node, options);
  if (!results) return generic_error("vdpa device '" + args.dev + "' (" + *node + "): " + results.error().message);
  qapi::VdpaSelftestResult out;
  out.dev = args.dev;
  out.vhost_dev = *node;
  out.passed = !results->empty();
  for (const auto& pair : *results) {
    qapi::VdpaSelftestQueuePair entry;
    entry.queue_pair = pair.queue_pair;
    entry.sent = pair.sent;
    entry.received = pair.received;
    entry.matched = pair.matched;
    if (!pair.error.empty()) entry.error = pair.error;
    out.passed = out.passed && pair.error.empty() && pair.matched == pair.sent;
    out.queue_pairs.push_back(std::move(entry));
  }
  return out;
}

}  // namespace vnet
