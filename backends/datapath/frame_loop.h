// FrameLoop - the userspace datapath's io_uring: datagram sockets whose
// receives stay posted (multishot recvmsg on provided buffers, no per-frame
// allocation), each frame handed to its port's handler as it completes. The
// daemon's epoll loop watches event_fd() and calls process().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kernel_ifaces/result.h"
#include "kernel_ifaces/unique_fd.h"
#include "kernel_ifaces/uring.h"

namespace vnet::datapath {

class FrameLoop {
 public:
  // A frame, valid during the call only.
  using Handler = std::function<void(std::span<const uint8_t> frame)>;
  // QEMU's NET_BUFSIZE (4096 + 65536): the largest frame a netdev takes.
  static constexpr unsigned kMaxFrame = 4096 + 65536;

  static Result<std::unique_ptr<FrameLoop>> create();
  int event_fd() const { return event_.get(); }
  // Reads completions and hands frames to their handlers; re-arms receives.
  void process();

  // Starts receiving datagrams on fd (which the caller keeps open until
  // remove_receiver); returns a receiver id.
  Result<uint32_t> add_receiver(int fd, Handler handler);
  void remove_receiver(uint32_t id);

 private:
  struct Receiver {
    int fd = -1;
    Handler handler;
    std::unique_ptr<uring::BufferRing> buffers;
    msghdr shape{};
    bool armed = false;
  };
  FrameLoop(uring::Ring ring, UniqueFd event) : ring_(std::move(ring)), event_(std::move(event)) {}
  void arm(uint32_t id);

  uring::Ring ring_;
  UniqueFd event_;
  std::vector<std::unique_ptr<Receiver>> receivers_;  // by id; nullptr once removed
};

}  // namespace vnet::datapath
