// vnetd - the vnetctl host daemon: serves QMP on a UNIX socket.
#include <signal.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "backends/tap/bridge/bridge_acl.h"
#include "backends/hubport/hub.h"
#include "backends/nic/nic_backend.h"
#include "backends/tap/teardown_queue.h"
#include "ctl/access/access_policy.h"
#include "ctl/config/daemon_config.h"
#include "ctl/idle_trim.h"
#include "ctl/daemon_state.h"
#include "ctl/device_rules.h"
#include "ebpf/anti_spoof.h"
#include "ebpf/hub_forward.h"
#include "ebpf/libbpf_log.h"
#include "ebpf/rx_filter.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/timer_fd.h"
#include "kernel_ifaces/bpffs.h"
#include "ctl/commands/vnetd_commands.h"
#include "ctl/netdev_registry.h"
#include "ctl/netns_watch.h"
#include "ctl/loop/event_loop.h"
#include "ctl/qmp/qemu_texts.h"
#include "ctl/qmp/qmp_server.h"
#include "ctl/qmp/socket_access.h"

namespace {

struct Options {
  std::string socket_path = "/run/vnetctl/qmp.sock";
  std::string state_dir = "/run/vnetctl";
  std::string config_file;
  std::string bridge_acl = "/etc/vnetctl/bridge.conf";
  std::string access_file;
  std::string socket_mode = "0660";
  std::string socket_group;
  bool keep_devices = false;
  std::string state_sync = "background";
  bool verbose = false;
};

vnet::Result<void> make_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return vnet::Error::from_errno(ec.value(), "creating directory \"" + dir.string() + "\"");
  return {};
}

// One daemon per state dir: a second would fight over its devices.
vnet::Result<vnet::UniqueFd> lock_state_dir(const std::string& dir) {
  std::string path = dir + "/vnetd.lock";
  vnet::UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return vnet::errno_error("opening " + path);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) return vnet::Error{EBUSY, "another vnetd uses the state dir " + dir};
    return vnet::errno_error("flock " + path);
  }
  return fd;
}

// With WatchdogSec= in the unit, systemd expects WATCHDOG=1 at least every
// WATCHDOG_USEC: sent from the event loop at half that, so a hung loop is
// what stops it.
vnet::Result<vnet::UniqueFd> start_watchdog(vnet::EventLoop& loop) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return vnet::UniqueFd();
  auto timer = vnet::timer_fd::create("the watchdog");
  if (!timer) return timer.take_error();
  // Half of WATCHDOG_USEC, in whole ms (systemd's watchdogs are seconds long).
  int64_t half_ms = std::max<int64_t>(static_cast<int64_t>(usec / 2000), 1);
  if (auto armed = vnet::timer_fd::arm_ms(timer->get(), half_ms, half_ms); !armed) return armed.take_error();
  int fd = timer->get();
  if (auto added = loop.add(fd, EPOLLIN, [fd](uint32_t) {
        if (vnet::timer_fd::take_expirations(fd) > 0) sd_notify(0, "WATCHDOG=1");
      });
      !added) {
    return added.take_error();
  }
  return std::move(*timer);
}

// SIGTERM and SIGINT arrive as readable events, so shutdown runs in the loop.
vnet::Result<vnet::UniqueFd> stop_signals_fd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) return vnet::errno_error("sigprocmask");
  vnet::UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return vnet::errno_error("signalfd");
  return fd;
}

// systemd socket activation hands us the listener; otherwise we make it.
vnet::Result<vnet::UniqueFd> qmp_listener(const Options& options, const vnet::qmp::SocketAccess& access,
                                          bool& created) {
  int n = sd_listen_fds(1);
  if (n < 0) return vnet::Error::from_errno(-n, "sd_listen_fds");
  if (n >= 1) {
    created = false;
    if (options.socket_mode != "0660" || !options.socket_group.empty()) {
      vnet::log::warning("--socket-mode and --socket-group do not apply to the socket systemd passed (its unit's "
                         "SocketMode= and SocketGroup= do)");
    }
    return vnet::UniqueFd(SD_LISTEN_FDS_START);
  }
  created = true;
  if (auto made = make_dir(std::filesystem::path(options.socket_path).parent_path()); !made) return made.take_error();
  return vnet::unix_socket::listen_at(options.socket_path, access);
}

// --access FILE, and the [[allow]] tables of --config, make one policy.
vnet::Result<void> load_access(const Options& options, const std::optional<vnet::config::DaemonConfig>& config,
                               vnet::access::AccessPolicy& policy) {
  if (!options.access_file.empty()) {
    auto rules = vnet::access::load_access_file(options.access_file);
    if (!rules) return rules.take_error();
    policy.add(std::move(*rules));
  }
  if (config) policy.add(config->access_rules);
  return {};
}

// Pinned filter maps of NICs that were not re-adopted (a crash before their
// netdev_add was recorded, or a restore that failed) would stay for ever.
void remove_unclaimed_pins(const std::string& pin_root, vnet::NetdevRegistry& registry) {
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(pin_root, ec)) {
    std::string nic = dir.path().filename().string();
    if (registry.find(nic)) continue;
    for (const auto& pin : std::filesystem::directory_iterator(dir.path(), ec)) unlink(pin.path().c_str());
    rmdir(dir.path().c_str());
    vnet::log::info("removed the pinned filter maps of NIC '" + nic + "', which is not in the state");
  }
}

// Anti-spoof maps of NICs that are gone, or whose anti-spoofing the state
// says is off (a crash between enabling and recording it).
void remove_unclaimed_anti_spoof_pins(const std::string& pin_root, vnet::NetdevRegistry& registry) {
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(pin_root, ec)) {
    std::string id = dir.path().filename().string();
    vnet::NetdevEntry* entry = registry.find(id);
    auto* nic = entry ? dynamic_cast<vnet::nic::NicBackend*>(entry->backend.get()) : nullptr;
    if (nic && nic->anti_spoof().enabled) continue;
    for (const auto& pin : std::filesystem::directory_iterator(dir.path(), ec)) unlink(pin.path().c_str());
    rmdir(dir.path().c_str());
    vnet::log::info("removed the pinned anti-spoof maps of '" + id + "', not enabled in the state");
  }
}

// The soft fd limit (often 1024) would stop vnetd at ~250 four-queue taps;
// the hard one is what the administrator allows.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) vnet::log::warning(vnet::errno_error("raising RLIMIT_NOFILE").message);
  }
}

// glibc raises its mmap threshold to the size of each large block freed, so
// after a multi-MB state snapshot is freed, later blocks that size come from
// the heap and stay there. A fixed threshold keeps large blocks mmap'd and
// given back when freed.
void keep_large_blocks_mapped() { mallopt(M_MMAP_THRESHOLD, 256 * 1024); }

using json = nlohmann::ordered_json;

// What a start reads before it makes anything: a bad one is status 2.
struct StartInputs {
  std::optional<vnet::config::DaemonConfig> config;
  vnet::access::AccessPolicy access_policy;
  vnet::qmp::SocketAccess socket_access;
  vnet::bridge::BridgeAcl bridge_acl;
};

vnet::Result<StartInputs> read_start_inputs(const Options& options) {
  StartInputs inputs;
  if (!options.config_file.empty()) {
    auto loaded = vnet::config::load(options.config_file);
    if (!loaded) return loaded.take_error();
    inputs.config = std::move(*loaded);
  }
  if (auto loaded = load_access(options, inputs.config, inputs.access_policy); !loaded) return loaded.take_error();
  auto access = vnet::qmp::parse_socket_access(options.socket_mode, options.socket_group);
  if (!access) return access.take_error();
  inputs.socket_access = std::move(*access);
  auto acl = vnet::bridge::BridgeAcl::load(options.bridge_acl);
  if (!acl) return acl.take_error();
  inputs.bridge_acl = std::move(*acl);
  return inputs;
}

// NICs' filter maps are pinned on a bpffs in the state dir, so that a
// restarted daemon re-adopts them (and the filters never stop in between).
struct PinRoots {
  std::string bpf_dir;
  bool mounted_here = false;          // this start mounted the bpffs
  std::string rx_filter = "", anti_spoof = "";  // empty: not pinned
  std::string hubs = "";                        // hubs' kernel forwarders; empty: not pinned
};

PinRoots prepare_pin_roots(const std::string& state_dir) {
  PinRoots roots{state_dir + "/bpf"};
  auto mounted = vnet::bpffs::ensure_mounted(roots.bpf_dir);
  if (mounted) {
    roots.mounted_here = *mounted;
    // bpffs refuses names with a dot (they are its own).
    roots.rx_filter = roots.bpf_dir + "/rx_filter_v" + std::to_string(RX_FILTER_LAYOUT_VERSION);
    if (mkdir(roots.rx_filter.c_str(), 0700) < 0 && errno != EEXIST) roots.rx_filter.clear();
    roots.anti_spoof = roots.bpf_dir + "/anti_spoof_v" + std::to_string(ANTI_SPOOF_LAYOUT_VERSION);
    if (mkdir(roots.anti_spoof.c_str(), 0700) < 0 && errno != EEXIST) roots.anti_spoof.clear();
    roots.hubs = roots.bpf_dir + "/hub_forward_v" + std::to_string(HUB_FORWARD_LAYOUT_VERSION);
    if (mkdir(roots.hubs.c_str(), 0700) < 0 && errno != EEXIST) roots.hubs.clear();
  }
  if (roots.rx_filter.empty()) {
    vnet::log::warning("rx filter maps are not pinned (" + (mounted ? "mkdir failed" : mounted.error().message) +
                       "): a restarted vnetd will not re-adopt them");
  }
  return roots;
}

// Devices of netdevs deleted before a crash, which their teardown had not
// removed yet: removed now, so nothing vnetd made is left unaccounted for.
void remove_devices_of_deleted_netdevs(const vnet::DaemonState& state, vnet::rtnl::Rtnl& rtnl) {
  for (const auto& gone : state.teardowns()) {
    auto link = rtnl.get_link(gone.ifname);
    if (link && link->ifindex == gone.ifindex) {
      if (auto deleted = rtnl.delete_link(gone.ifindex); !deleted) {
        vnet::log::error("restore: removing " + gone.ifname + " of a deleted netdev: " + deleted.error().message);
      }
    }
  }
}

// The netdevs and announce timers of the state a daemon before us left.
// false: a member of the wrong type (a hand-edited or foreign file), which
// stops vnetd naming the file, as one that does not parse does: starting
// without the record could leave its device behind.
bool restore_netdevs(const json& previous, vnet::VnetdCommands& commands, vnet::Announcer& announcer,
                     const std::string& state_path) {
  try {
    size_t restored = 0;
    for (const auto& record : previous["netdevs"]) {
      if (auto done = commands.restore_netdev(record); done) {
        restored++;
      } else {
        vnet::log::error("restore: netdev '" + record.value("id", std::string("?")) + "' not re-adopted: " +
                         done.error().message);
      }
    }
    size_t timers = 0;
    for (const auto& timer : vnet::announce_timers(previous)) {
      if (auto resumed = announcer.resume(timer); resumed) timers++;
      else vnet::log::error("restore: announce timer: " + resumed.error().message);
    }
    vnet::log::info("re-adopted " + std::to_string(restored) + " of " + std::to_string(previous["netdevs"].size()) +
                    " netdevs and " + std::to_string(timers) + " announce timers from " + state_path);
    return true;
  } catch (const nlohmann::json::exception& e) {
    vnet::log::error(state_path + ": a record has a member of the wrong type (" + e.what() +
                     "): move the state dir away to start afresh");
    return false;
  }
}

// NICs attached to running VMMs (vmm-attach): reconnected to those still
// running, whose current filter is read again.
void resume_vmm_attachments(const json& previous, vnet::VnetdCommands& commands,
                            vnet::vmm::VmmAttachments& attachments) {
  for (auto& spec : vnet::vmm_attachments(previous)) {
    if (!commands.has_netdev(spec.nic)) {
      vnet::log::error("restore: VMM attachment of NIC '" + spec.nic + "' dropped: the NIC was not re-adopted");
      continue;
    }
    attachments.resume(std::move(spec));
  }
}

// --config: its netdevs (those a restart did not bring back already), then
// its rules over every device there is.
void apply_config(const std::string& config_file, const vnet::config::DaemonConfig& config,
                  vnet::VnetdCommands& commands, vnet::DeviceRules& rules) {
  for (const auto& netdev : config.netdevs) {
    std::string id = netdev.arguments.value("id", "");
    if (commands.has_netdev(id)) continue;
    if (auto added = commands.adopt_netdev(netdev.arguments, std::nullopt); !added) {
      vnet::log::error(netdev.where + ": netdev '" + id + "': " + added.error().message);
    }
  }
  size_t applied = rules.scan();
  vnet::log::info("config " + config_file + ": " + std::to_string(config.netdevs.size()) + " netdevs, " +
                  std::to_string(config.rules.size()) + " rules (" + std::to_string(applied) +
                  " applied to devices present)");
}

// QMP on its socket (made here, or passed by systemd: `created` says which).
vnet::Result<void> start_serving(const Options& options, const StartInputs& inputs, vnet::qmp::QmpServer& server,
                                 bool& created) {
  auto listener = qmp_listener(options, inputs.socket_access, created);
  if (!listener) return listener.take_error();
  if (auto served = server.serve(std::move(listener.value())); !served) return served;
  const auto& rules = inputs.access_policy.rules();
  vnet::log::info("serving QMP on " + (created ? options.socket_path : "the socket systemd passed") + " (" +
                  (rules.empty() ? "root only" : std::to_string(rules.size()) + " access rules") + ")");
  return {};
}

// Until the daemon serves, a failure to start leaves every device it
// re-adopted where it was (VMs use them), as --keep-devices does; and a
// bpffs this start mounted, with nothing re-adopted on it, is unmounted.
struct UndoUnlessServing {
  vnet::NetdevRegistry& registry;
  const PinRoots& pins;
  bool armed = true;
  ~UndoUnlessServing() {
    if (!armed) return;
    for (const auto& entry : registry.all()) entry->backend->keep_on_exit();
    if (pins.mounted_here && registry.all().empty()) (void)vnet::bpffs::unmount(pins.bpf_dir);
  }
};

// The server is the event sink the commands emit into; it is built after
// them, so they are given this, which forwards to it once it is there.
struct ForwardingSink : vnet::qmp::EventSink {
  vnet::qmp::EventSink* target = nullptr;
  void emit(std::string_view name, nlohmann::ordered_json data) override {
    if (target) target->emit(name, std::move(data));
  }
};

// --keep-devices leaves devices, filters, pins and the state file for the
// next vnetd; otherwise everything goes, the bpffs this start mounted too.
void shut_down(const Options& options, const PinRoots& pins, vnet::NetdevRegistry& registry,
               vnet::VnetdCommands& commands, vnet::DaemonState& state) {
  if (options.keep_devices) {
    for (const auto& entry : registry.all()) entry->backend->keep_on_exit();
    if (auto saved = state.save_now(); !saved) vnet::log::error(saved.error().message);
    commands.set_state(nullptr);
    registry.clear();
    return;
  }
  commands.set_state(nullptr);
  registry.clear();
  state.discard();
  if (pins.mounted_here) (void)vnet::bpffs::unmount(pins.bpf_dir);
}

// Fails with status 1, the reason logged.
int failed(const vnet::Error& error) {
  vnet::log::error(error.message);
  return 1;
}

int run(const Options& options) {
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  keep_large_blocks_mapped();
  auto inputs = read_start_inputs(options);
  if (!inputs) {
    vnet::log::error(inputs.error().message);
    return 2;
  }
  if (auto made = make_dir(options.state_dir); !made) return failed(made.error());
  auto state_lock = lock_state_dir(options.state_dir);
  if (!state_lock) return failed(state_lock.error());
  const PinRoots pins = prepare_pin_roots(options.state_dir);

  auto loop = vnet::EventLoop::create();
  if (!loop) return failed(loop.error());
  auto signals = stop_signals_fd();
  if (!signals) return failed(signals.error());
  (void)(*loop)->add(signals->get(), EPOLLIN, [&](uint32_t) { (*loop)->stop(); });
  auto rtnl = vnet::rtnl::Rtnl::connect();
  if (!rtnl) return failed(rtnl.error());
  // Declared before the registry: backends use them until they are gone.
  vnet::HubSet hubs;
  hubs.set_pin_root(pins.hubs);
  vnet::TeardownQueue teardown;
  vnet::l2tpv3::KernelTunnels l2tp_tunnels;
  // The userspace datapath's io_uring, driven from this loop.
  auto frames = vnet::datapath::FrameLoop::create();
  if (!frames) return failed(frames.error());
  (void)(*loop)->add((*frames)->event_fd(), EPOLLIN, [&frames](uint32_t) { (*frames)->process(); });
  vnet::DaemonResources resources{hubs, teardown, *rtnl, inputs->bridge_acl, pins.rx_filter, frames->get()};
  resources.anti_spoof_pin_root = pins.anti_spoof;
  resources.l2tp_tunnels = &l2tp_tunnels;
  if (inputs->config) resources.programs = inputs->config->programs;

  // Before the registry: taps in other namespaces hold its watches.
  vnet::VnetdCommands* commands_for_watch = nullptr;
  auto netns_watch = vnet::NetnsWatch::create(**loop, [&commands_for_watch](const std::string& id) {
    if (commands_for_watch) commands_for_watch->remove_netdev(id);
  });
  if (!netns_watch) return failed(netns_watch.error());
  resources.netns_watch = netns_watch->get();

  vnet::NetdevRegistry registry;
  UndoUnlessServing undo_until_serving{registry, pins};
  ForwardingSink events;
  const char* forced_path = std::getenv("VNETD_ANNOUNCE_PATH");
  vnet::Announcer announcer(**loop, registry,
                            forced_path && std::string(forced_path) == "tap-write" ? vnet::Announcer::Path::kTapWrite
                                                                                   : vnet::Announcer::Path::kAuto);
  vnet::VnetdCommands commands(registry, resources, events, announcer);
  commands_for_watch = &commands;
  auto name_waits = vnet::NameWaits::create(**loop, teardown);
  if (!name_waits) return failed(name_waits.error());
  commands.set_name_waits(name_waits->get());
  // Up-scripts run off the loop; what still runs at exit is killed.
  vnet::ScriptRuns script_runs(**loop);
  commands.set_script_runs(&script_runs);
  vnet::qmp::QmpServer server(**loop, commands);
  events.target = &server;
  inputs->access_policy.set_owner_lookup([&commands](const std::string& id) { return commands.netdev_owner(id); });
  server.set_access_policy(inputs->access_policy);

  // What a daemon before us left: re-adopted before anyone is served.
  vnet::DaemonState state(options.state_dir, registry, **loop,
                         options.state_sync == "each-commit" ? vnet::state::SyncPolicy::kEachCommit
                                                             : vnet::state::SyncPolicy::kBackground);
  auto previous = state.load();
  if (!previous) return failed(previous.error());
  remove_devices_of_deleted_netdevs(state, *rtnl);
  hubs.begin_restore();
  if (*previous && !restore_netdevs(**previous, commands, announcer, state.path())) return 1;
  hubs.end_restore();
  if (!pins.rx_filter.empty()) remove_unclaimed_pins(pins.rx_filter, registry);
  if (!pins.anti_spoof.empty()) remove_unclaimed_anti_spoof_pins(pins.anti_spoof, registry);
  state.set_announcer(&announcer);
  state.set_teardown_queue(&teardown);
  announcer.set_on_change([&state] { state.sections_changed(); });
  commands.set_state(&state);
  server.set_commit_gate(&state);
  vnet::vmm::VmmAttachments attachments(
      **loop, events, [&commands](const vnet::qapi::RxFilterInfo& info) { return commands.program_rx_filter(info); },
      [&state] {
        state.sections_changed();
        return state.commit_now();
      });
  commands.set_vmm_attachments(&attachments);
  state.set_vmm_attachments(&attachments);
  if (*previous) resume_vmm_attachments(**previous, commands, attachments);

  // --config's rules apply to every device there is now, and to each udev
  // event to come.
  vnet::DeviceRules rules(inputs->config ? inputs->config->rules : std::vector<vnet::config::DeviceRule>{}, commands,
                          *rtnl);
  if (inputs->config) apply_config(options.config_file, *inputs->config, commands, rules);
  commands.set_udev_handler([&rules, &loop](const vnet::qapi::UdevEventArgs& event) {
    // Answered first: udev kills handlers that wait.
    (*loop)->defer([&rules, event] {
      // A net device by its name; a vdpa device by its DEVPATH.
      rules.handle(event.action, event.subsystem,
                   event.subsystem == "vdpa" ? event.devpath.value_or("") : event.interface.value_or(""));
    });
  });
  if (auto saved = state.save_now(); !saved) vnet::log::error(saved.error().message);

  bool created_socket = false;
  if (auto serving = start_serving(options, *inputs, server, created_socket); !serving) return failed(serving.error());
  auto watchdog = start_watchdog(**loop);
  if (!watchdog) vnet::log::error(watchdog.error().message);
  auto idle_trim = vnet::IdleTrim::create(**loop, [&state] { return state.bytes_written(); });
  if (!idle_trim) vnet::log::warning(idle_trim.error().message);
  sd_notifyf(0, "READY=1\nSTATUS=serving QMP, %zu netdevs", registry.all().size());
  undo_until_serving.armed = false;

  int err = (*loop)->run();
  sd_notify(0, "STOPPING=1");
  vnet::log::info("stopping");
  shut_down(options, pins, registry, commands, state);
  teardown.drain();
  if (created_socket) unlink(options.socket_path.c_str());
  if (err) return failed(vnet::Error::from_errno(err, "epoll_wait"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"vnetd - the vnetctl host network daemon (QMP on a UNIX socket)"};
  app.add_option("--socket", options.socket_path, "QMP socket path")->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "directory for the daemon's state")->capture_default_str();
  app.add_option("--config", options.config_file, "declarative configuration file");
  app.add_option("--bridge-acl", options.bridge_acl, "bridge ACL file (qemu-bridge-helper format)")
      ->capture_default_str();
  app.add_option("--access", options.access_file,
                 "TOML file of [[allow]] rules: which non-root peers may run which commands (default: root only)");
  app.add_option("--socket-mode", options.socket_mode, "octal mode of the QMP socket; never o+w")
      ->capture_default_str();
  app.add_option("--socket-group", options.socket_group, "group (name or gid) of the QMP socket");
  app.add_option("--state-sync", options.state_sync,
                 "when a change is flushed to the state dir's device: \"each-commit\" before its reply "
                 "(survives a host crash; one device flush per commit), or \"background\" within 1 s after it "
                 "(the reply still waits for the write, so kill -9 loses nothing)")
      ->check(CLI::IsMember({"background", "each-commit"}))
      ->capture_default_str();
  app.add_flag("--keep-devices", options.keep_devices, "leave created devices in place on exit");
  app.add_flag("-v,--verbose", options.verbose, "log debug lines too (libbpf's info and debug messages among them)");
  app.set_version_flag("--version", vnet::qmp::kVnetdPackage);
  CLI11_PARSE(app, argc, argv);
  if (options.verbose) vnet::log::set_threshold(vnet::log::Level::debug);
  // Before any BPF object is opened: libbpf's warnings become vnetd's lines.
  vnet::ebpf::install_libbpf_log();
  return run(options);
}
