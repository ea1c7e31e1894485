// VdeConnection - one libvdeplug connection (VDECONN), closed on destruction.
// libvdeplug hides which plugin serves the URL (a vde_switch directory,
// vxvde://, tap://...); what it gives is a data fd to poll, a control fd
// that turns readable only when the other end goes, and recv/send of one
// frame. Thin: each method is the libvdeplug call it names.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "kernel_ifaces/result.h"

struct vdeconn;

namespace vnet::vde {

// vde_open()'s arguments (struct vde_open_args plus the URL and the text
// the switch shows for the port).
struct OpenArgs {
  std::string url;  // "" for libvdeplug's default switch
  int port = 0;     // 0: any free port
  std::optional<std::string> group;
  mode_t mode = 0;
  std::string description;
};

class VdeConnection {
 public:
  // vde_open(); the Error carries vde_open's errno.
  static Result<VdeConnection> open(const OpenArgs& args);

  // vde_datafd(): readable when frames wait for recv().
  int data_fd() const;
  // vde_ctlfd(): silent after the handshake, readable (EOF) when the switch
  // closes the port; -1 for plugins without one.
  int control_fd() const;
  // vde_recv() / vde_send() of one frame: the length, or -1 with errno set.
  ssize_t recv(std::span<uint8_t> buffer);
  ssize_t send(std::span<const uint8_t> frame);

 private:
  struct Closer {
    void operator()(vdeconn* conn) const;
  };
  explicit VdeConnection(vdeconn* conn) : conn_(conn) {}
  std::unique_ptr<vdeconn, Closer> conn_;
};

}  // namespace vnet::vde
