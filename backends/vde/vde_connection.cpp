#include "backends/vde/vde_connection.h"

// libvdeplug.h declares C functions without extern "C".
extern "C" {
#include <libvdeplug.h>
}

#include <cerrno>
#include <vector>

namespace vnet::vde {

Result<VdeConnection> VdeConnection::open(const OpenArgs& args) {
  // libvdeplug takes char* but does not write through them.
  std::vector<char> url(args.url.begin(), args.url.end()), description(args.description.begin(), args.description.end());
  url.push_back('\0');
  description.push_back('\0');
  std::vector<char> group;
  if (args.group) {
    group.assign(args.group->begin(), args.group->end());
    group.push_back('\0');
  }
  vde_open_args open_args{args.port, args.group ? group.data() : nullptr, args.mode};
  errno = 0;
  VDECONN* conn = vde_open(url.data(), description.data(), &open_args);
  if (!conn) {
    // A plugin that fails without setting errno still must not read as success.
    int err = errno ? errno : EIO;
    return Error::from_errno(err, "vde_open(\"" + args.url + "\")");
  }
  return VdeConnection(conn);
}

void VdeConnection::Closer::operator()(vdeconn* conn) const { vde_close(conn); }

int VdeConnection::data_fd() const { return vde_datafd(conn_.get()); }

int VdeConnection::control_fd() const { return vde_ctlfd(conn_.get()); }

ssize_t VdeConnection::recv(std::span<uint8_t> buffer) { return vde_recv(conn_.get(), buffer.data(), buffer.size(), 0); }

ssize_t VdeConnection::send(std::span<const uint8_t> frame) {
  return vde_send(conn_.get(), frame.data(), frame.size(), 0);
}

}  // namespace vnet::vde
