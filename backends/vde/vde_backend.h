// VdeBackend - the vde netdev: one port on a VDE switch through libvdeplug,
// opened as QEMU's net/vde.c opens it (vde_open with port, group, mode).
// Frames from the switch are read when the frame loop sees the data fd
// readable and handed to the peer; frames from the peer go out with
// vde_send at once. The switch closing the port is noticed on the control
// fd and shows as connected: false.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/datapath/frame_loop.h"
#include "backends/datapath/userspace_port.h"
#include "backends/vde/vde_connection.h"
#include "qapi_types.h"

namespace vnet::vde {

// QEMU's net_init_vde() defaults: any port, no group, mode 0700.
OpenArgs open_args(const qapi::NetdevVdeOptions& options, const std::string& netdev_id);

// One datagram read from the switch: a frame for the peer, or why not.
enum class Verdict { frame, runt, oversize };
struct Received {
  Verdict verdict;
  std::span<const uint8_t> frame;
};
// Checks what vde_recv() put in buffer (length bytes; buffer is one byte
// larger than the largest frame, so a longer datagram shows as too long).
Received decode_datagram(std::span<const uint8_t> buffer, size_t length);

class VdeBackend : public datapath::UserspacePort, private datapath::BatchFlush {
 public:
  // Serves an open connection (VdeConnection::open(args)) on the loop.
  static Result<std::unique_ptr<VdeBackend>> create(VdeConnection connection, OpenArgs args,
                                                    datapath::FrameLoop& loop);
  ~VdeBackend() override;
  VdeBackend(const VdeBackend&) = delete;
  VdeBackend& operator=(const VdeBackend&) = delete;

  // A frame from the peer goes to the switch now (vde_send); a full switch
  // queue or a closed port drops it, counted.
  Result<void> send_from_guest(std::span<const uint8_t> frame) override;
  std::vector<Detail> details() const override;

 private:
  VdeBackend(datapath::FrameLoop& loop, VdeConnection connection, OpenArgs args);
  Result<void> start();
  void data_ready(uint32_t revents);
  void control_ready(uint32_t revents);
  std::span<uint8_t> next_receive_buffer();
  // The batch is over: every receive buffer is free again.
  void flush_batch() override;
  void disconnected(int error);

  datapath::FrameLoop& loop_;
  VdeConnection connection_;
  OpenArgs args_;
  std::optional<uint32_t> data_watch_, control_watch_;
  bool connected_ = true;
  // The switch stopped taking frames (a send waited and timed out): later
  // sends drop at once instead of waiting again, until one goes through.
  bool stalled_ = false;

  // One buffer per frame received in a batch: the peer may keep a reference
  // to a frame until the batch ends. When all are in use the data fd is
  // polled afresh at the batch's end (data_rearm_), which fires at once if
  // frames are still queued.
  std::vector<std::vector<uint8_t>> receive_buffers_;
  size_t receive_used_ = 0;
  bool data_rearm_ = false;

  uint64_t drops_oversize_ = 0, drops_runt_ = 0;
  uint64_t receive_errors_ = 0;
  uint64_t frames_out_ = 0, bytes_out_ = 0, drops_busy_ = 0, drops_send_error_ = 0, drops_disconnected_ = 0;
  int last_error_ = 0;
};

}  // namespace vnet::vde
