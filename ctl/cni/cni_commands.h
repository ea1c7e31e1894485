// cni_commands - one handler per CNI operation (SPEC.md section 2), in one
// table: the table is the list of what the plugin supports.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_config.h"
#include "ctl/cni/cni_error.h"

namespace vnet::cni {

// One invocation: its CNI_* variables, its configuration (not for VERSION),
// the whole environment (handed to delegates) and stdin as read.
struct Invocation {
  CniEnv env;
  NetConf conf;
  std::map<std::string, std::string> environment;
  std::string input;
};

// What a successful command prints on stdout (nothing for DEL, CHECK,
// STATUS and GC).
using Output = std::optional<nlohmann::ordered_json>;
using Handler = Expected<Output> (*)(const Invocation&);

struct CommandHandler {
  Command command;
  Handler handler;
};

Expected<Output> cmd_add(const Invocation& in);
Expected<Output> cmd_del(const Invocation& in);
Expected<Output> cmd_check(const Invocation& in);
Expected<Output> cmd_status(const Invocation& in);
Expected<Output> cmd_version(const Invocation& in);
Expected<Output> cmd_gc(const Invocation& in);

inline constexpr std::array<CommandHandler, 6> kHandlers = {{{Command::add, cmd_add},
                                                            {Command::del, cmd_del},
                                                            {Command::check, cmd_check},
                                                            {Command::status, cmd_status},
                                                            {Command::version, cmd_version},
                                                            {Command::gc, cmd_gc}}};

// VERSION's answer: the version asked in (when the plugin speaks it, else
// its newest) and every version it speaks.
nlohmann::ordered_json version_json(const std::string& input);

}  // namespace vnet::cni
