// FakeDaemon - vnetd's command side as the QMP server drives it (framer,
// session, the real command table and registry) with a backend factory that
// makes no kernel object: hub ports are real (userspace only), every other
// type has its options checked where that is pure (tap, user) and gets a
// backend that only records itself. No tap, netlink change or file is made,
// so the fuzz targets run anywhere, unprivileged, and each input starts from
// a fresh daemon (a crash reproduces from its input alone).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ctl/commands/vnetd_commands.h"
#include "ctl/netdev_registry.h"
#include "ctl/qmp/json_framer.h"
#include "ctl/qmp/session.h"

namespace vnet::fuzz {

// Aborts (a crash libFuzzer reports) with what broke the contract.
[[noreturn]] void contract_broken(const std::string& what);

class FakeDaemon {
 public:
  FakeDaemon();
  ~FakeDaemon();

  // Bytes as a client sends them. Every framed text must get exactly one
  // reply, a JSON object with "return" or "error".
  void feed(std::string_view bytes);
  // One request, negotiated or not: its reply's parsed text.
  nlohmann::ordered_json ask(const std::string& request);

  VnetdCommands& commands() { return *commands_; }
  NetdevRegistry& registry() { return registry_; }
  Announcer& announcer() { return *announcer_; }

 private:
  struct Sink : qmp::EventSink {
    void emit(std::string_view name, nlohmann::ordered_json data) override;
  };

  HubSet hubs_;  // outlives the registry, whose hub ports it holds
  DaemonResources resources_;
  NetdevRegistry registry_;
  Sink events_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Announcer> announcer_;
  std::unique_ptr<VnetdCommands> commands_;
  std::unique_ptr<qmp::Session> session_;
  qmp::JsonFramer framer_;
};

}  // namespace vnet::fuzz
