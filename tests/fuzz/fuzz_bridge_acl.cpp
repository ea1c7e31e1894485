// The bridge ACL parser (qemu-bridge-helper's format) on one file's text.
// "include NAME" reads a real file, so the harness points every include at
// a private directory made once: NAME reduced to [A-Za-z0-9._-] names a
// file there. It holds an ACL ("a"), one including itself ("loop"), one
// including the next level ("deep"), a directory and a FIFO, so includes,
// loops and the regular-file rule are exercised without reading anything
// outside it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backends/tap/bridge/bridge_acl.h"
#include "tests/fuzz/fake_daemon.h"

namespace {

std::string make_include_dir() {
  char pattern[] = "/tmp/vnet-fuzz-acl-XXXXXX";
  if (!mkdtemp(pattern)) vnet::fuzz::contract_broken("mkdtemp");
  std::string dir = pattern;
  // Gone when the fuzzer exits (a crash leaves it beside its artifact).
  static std::string to_remove = dir;
  std::atexit([] { std::filesystem::remove_all(to_remove); });
  std::ofstream(dir + "/a") << "allow br0\ndeny br1\n";
  std::ofstream(dir + "/loop") << "include " << dir << "/loop\n";
  std::ofstream(dir + "/deep") << "allow all\ninclude " << dir << "/a\n";
  mkdir((dir + "/dir").c_str(), 0700);
  mkfifo((dir + "/fifo").c_str(), 0600);
  return dir;
}

const std::string& include_dir() {
  static const std::string dir = make_include_dir();
  return dir;
}

// Each "include NAME" line with NAME as a file of the private directory.
std::string confine_includes(const std::string& text) {
  std::istringstream lines(text);
  std::string line, out;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string command, argument;
    if (words >> command >> argument && command == "include") {
      std::string name;
      for (char c : argument) {
        if (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') name += c;
      }
      if (name.empty() || name == "." || name == "..") name = "missing";
      std::string rest;
      std::getline(words, rest);
      line = "include " + include_dir() + "/" + name + rest;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = confine_includes(std::string(reinterpret_cast<const char*>(data), size));
  auto acl = vnet::bridge::BridgeAcl::parse(text, "fuzz.conf");
  if (!acl) {
    if (acl.error().message.empty()) vnet::fuzz::contract_broken("an error without a message");
    return 0;
  }
  for (const char* bridge : {"br0", "br1", "all", "virbr0", ""}) (void)acl->allows(bridge);
  return 0;
}
