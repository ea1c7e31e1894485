// vnetctl-cni - a CNI plugin (spec 1.1: ADD, DEL, CHECK, STATUS, VERSION, GC)
// whose taps vnetd makes: the runtime runs it with CNI_* variables and the
// configuration on stdin (docs/cni.md); it asks vnetd over QMP for a tap in
// the container's namespace, delegates addresses to the IPAM plugin, and
// prints the result, or the spec's error JSON with a non-zero exit.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include "ctl/cni/cni_commands.h"
#include "ctl/cni/cni_version.h"
#include <vnet/version.h>

extern char** environ;

namespace {

using vnet::cni::CniError;
using vnet::cni::Expected;

std::map<std::string, std::string> read_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; *entry; entry++) {
    std::string text(*entry);
    size_t eq = text.find('=');
    if (eq != std::string::npos) out[text.substr(0, eq)] = text.substr(eq + 1);
  }
  return out;
}

Expected<std::string> read_stdin() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return vnet::cni::fail(vnet::cni::kIoFailure, "error reading from stdin");
  return text;
}

int print_error(const CniError& error, const std::string& version) {
  std::cout << vnet::cni::error_json(error, version).dump(4) << '\n';
  return 1;
}

}  // namespace

int main() {
  // A delegate that exits before reading its stdin must not kill us with
  // SIGPIPE (run_plugin() gives its children the default back).
  signal(SIGPIPE, SIG_IGN);
  std::string version(vnet::cni::kCurrentVersion);
  vnet::cni::Invocation in;
  in.environment = read_environment();
  auto env = vnet::cni::parse_env(in.environment);
  if (!env) {
    if (!in.environment.count("CNI_COMMAND") || in.environment["CNI_COMMAND"].empty()) {
      // Run by hand: say what it is, as libcni's skel does.
      std::cerr << "CNI plugin vnetctl-cni " << vnet::kVersion << " (vnetd taps, docs/cni.md)\n"
                << "CNI protocol versions supported: " << vnet::cni::supported_versions_text() << '\n';
    }
    return print_error(env.error(), version);
  }
  in.env = std::move(*env);

  // VERSION reads its stdin only when something is piped in.
  if (in.env.command != vnet::cni::Command::version || !isatty(0)) {
    auto input = read_stdin();
    if (!input) return print_error(input.error(), version);
    in.input = std::move(*input);
  }
  if (in.env.command != vnet::cni::Command::version) {
    auto conf = vnet::cni::parse_config(in.input, in.env.command);
    if (!conf) return print_error(conf.error(), version);
    in.conf = std::move(*conf);
    version = in.conf.cni_version;
  }

  for (const auto& entry : vnet::cni::kHandlers) {
    if (entry.command != in.env.command) continue;
    Expected<vnet::cni::Output> output;
    try {
      output = entry.handler(in);
    } catch (const std::exception& e) {
      // A bug, not the runtime's fault: still the spec's JSON, never an abort.
      return print_error({vnet::cni::kInternal, std::string("internal error: ") + e.what(), ""}, version);
    }
    if (!output) return print_error(output.error(), version);
    if (*output) std::cout << (*output)->dump(4) << '\n';
    std::cout.flush();
    return std::cout ? 0 : print_error({vnet::cni::kIoFailure, "error writing the result to stdout", ""}, version);
  }
  return print_error({vnet::cni::kInvalidEnvironment, "unknown CNI_COMMAND", ""}, version);
}
