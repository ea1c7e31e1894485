// qmp_capabilities, query-version, query-commands, query-qmp-schema, getfd,
// closefd: the commands about the QMP session itself.
#include <cctype>

#include "ctl/commands/vnetd_commands.h"
#include "ctl/qmp/qemu_texts.h"

namespace vnet::qapi {
extern const char kIntrospection[];
}

namespace vnet {

using qapi::CommandContext;
namespace texts = qmp::texts;

QmpResult<Empty> VnetdCommands::qmp_qmp_capabilities(CommandContext& ctx, const qapi::QmpCapabilitiesArgs& args) {
  if (ctx.session.negotiated()) return QmpError{ErrorClass::CommandNotFound, texts::kNegotiationComplete};
  bool oob = false;
  // "oob" is the only capability and the greeting offers it.
  for (auto capability : args.enable.value_or(std::vector<qapi::QMPCapability>{})) {
    if (capability == qapi::QMPCapability::oob) oob = true;
  }
  ctx.session.complete_negotiation(oob);
  return Empty{};
}

QmpResult<qapi::VersionInfo> VnetdCommands::qmp_query_version(CommandContext&) {
  return qapi::VersionInfo{{kVersionMajor, kVersionMinor, kVersionMicro},
                           qmp::kVnetdPackage};
}

QmpResult<std::vector<qapi::CommandInfo>> VnetdCommands::qmp_query_commands(CommandContext&) {
  std::vector<qapi::CommandInfo> out;
  for (const auto& command : qapi::all_commands()) out.push_back({std::string(command.name)});
  return out;
}

QmpResult<std::vector<nlohmann::ordered_json>> VnetdCommands::qmp_query_qmp_schema(CommandContext&) {
  static const auto schema = nlohmann::ordered_json::parse(qapi::kIntrospection);
  return schema.get<std::vector<nlohmann::ordered_json>>();
}

QmpResult<Empty> VnetdCommands::qmp_getfd(CommandContext& ctx, const qapi::GetfdArgs& args) {
  std::optional<UniqueFd> fd = ctx.session.take_received_fd();
  if (!fd) return generic_error(texts::kNoFdSupplied);
  // A digit-led name would read as an fd number where names are accepted.
  if (!args.fdname.empty() && std::isdigit(static_cast<unsigned char>(args.fdname[0]))) {
    return generic_error(texts::parameter_expects("fdname", "a name not starting with a digit"));
  }
  // Replacing a name is always allowed; a new one only below the cap, so
  // that one client cannot fill the daemon's fd table (QEMU has no cap).
  if (!ctx.session.has_named_fd(args.fdname) && ctx.session.named_fd_count() >= qmp::Session::kMaxNamedFds) {
    return generic_error("this client holds " + std::to_string(qmp::Session::kMaxNamedFds) +
                         " named fds already, the most vnetd keeps for one client: closefd some first");
  }
  ctx.session.set_named_fd(args.fdname, std::move(*fd));
  return Empty{};
}

QmpResult<Empty> VnetdCommands::qmp_closefd(CommandContext& ctx, const qapi::ClosefdArgs& args) {
  if (!ctx.session.close_named_fd(args.fdname)) return generic_error(texts::fd_not_found(args.fdname));
  return Empty{};
}

}  // namespace vnet
