// uring: multishot receives on provided buffers and batched sends, on a UDP
// socket pair over loopback in a private network namespace: every datagram
// arrives whole, in order, with more datagrams than buffers (so buffers must
// be recycled), and the receive stays armed throughout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel_ifaces/rtnl.h"
#include "kernel_ifaces/unique_fd.h"
#include "kernel_ifaces/uring.h"

namespace vnet {
namespace {

UniqueFd udp_bound(sockaddr_in& address) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return fd;
}

TEST(Uring, MultishotReceivesOnRecycledBuffersAndBatchedSends) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root (CAP_SYS_ADMIN) for a private network namespace";
  // lo is down in a new namespace.
  auto rtnl = rtnl::Rtnl::connect();
  ASSERT_TRUE(rtnl);
  rtnl::LinkChange up;
  up.up = true;
  ASSERT_TRUE(rtnl->change_link(1, up));
  sockaddr_in receiver_address{}, sender_address{};
  UniqueFd receiver = udp_bound(receiver_address);
  UniqueFd sender = udp_bound(sender_address);
  ASSERT_EQ(connect(sender.get(), reinterpret_cast<sockaddr*>(&receiver_address), sizeof receiver_address), 0);

  auto ring = uring::Ring::create(256);
  ASSERT_TRUE(ring) << ring.error().message;
  constexpr unsigned kBuffers = 16, kFrames = 200;
  auto buffers = uring::BufferRing::create(*ring, 7, kBuffers, 2048);
  ASSERT_TRUE(buffers) << buffers.error().message;
  EXPECT_FALSE(uring::BufferRing::create(*ring, 8, 12, 2048)) << "12 is not a power of two";

  msghdr shape{};
  shape.msg_namelen = sizeof(sockaddr_in);
  io_uring_sqe* receive = ring->sqe();
  io_uring_prep_recvmsg_multishot(receive, receiver.get(), &shape, 0);
  receive->flags |= IOSQE_BUFFER_SELECT;
  receive->buf_group = buffers->group();
  io_uring_sqe_set_data64(receive, 1);

  std::vector<std::string> payloads;
  for (unsigned i = 0; i < kFrames; i++) payloads.push_back("frame " + std::to_string(i) + std::string(i % 1400, 'x'));
  std::vector<std::string> got;
  unsigned next = 0, rearmed = 0;
  while (got.size() < kFrames) {
    // Bursts of 40, more than the 16 buffers: the multishot receive runs out
    // (ENOBUFS, no IORING_CQE_F_MORE) and is armed again; the datagrams wait
    // in the socket meanwhile, none lost.
    for (unsigned batch = 0; batch < 40 && next < kFrames; batch++, next++) {
      io_uring_sqe* send = ring->sqe();
      io_uring_prep_send(send, sender.get(), payloads[next].data(), payloads[next].size(), 0);
      io_uring_sqe_set_data64(send, 2);
    }
    ASSERT_TRUE(ring->submit_and_wait(1));
    ring->drain([&](const io_uring_cqe& cqe) {
      if (cqe.user_data != 1) {
        EXPECT_GT(cqe.res, 0) << "send: " << std::strerror(-cqe.res);
        return;
      }
      if (cqe.res >= 0 && uring::BufferRing::has_buffer(cqe)) {
        uint16_t id = uring::BufferRing::buffer_id(cqe);
        auto* out = io_uring_recvmsg_validate(buffers->buffer(id), cqe.res, &shape);
        ASSERT_NE(out, nullptr);
        auto* payload = static_cast<char*>(io_uring_recvmsg_payload(out, &shape));
        got.emplace_back(payload, io_uring_recvmsg_payload_length(out, cqe.res, &shape));
        auto* from = static_cast<sockaddr_in*>(io_uring_recvmsg_name(out));
        EXPECT_EQ(from->sin_port, sender_address.sin_port);
        buffers->recycle(id);
      }
      if (!(cqe.flags & IORING_CQE_F_MORE)) {  // out of buffers for a moment: arm it again
        rearmed++;
        io_uring_sqe* again = ring->sqe();
        io_uring_prep_recvmsg_multishot(again, receiver.get(), &shape, 0);
        again->flags |= IOSQE_BUFFER_SELECT;
        again->buf_group = buffers->group();
        io_uring_sqe_set_data64(again, 1);
      }
    });
  }
  EXPECT_EQ(got, payloads);
  EXPECT_GT(rearmed, 0u) << "the bursts never exhausted the buffers: the test did not test recycling";
  std::printf("uring: %u frames through %u buffers, receive re-armed %u times\n", kFrames, kBuffers, rearmed);
}

TEST(Uring, BufferRingStartsSmallAndDoublesUpToItsCapacity) {
  auto ring = uring::Ring::create(8);
  ASSERT_TRUE(ring) << ring.error().message;
  auto buffers = uring::BufferRing::create(*ring, 9, 16, 2048, 4);
  ASSERT_TRUE(buffers) << buffers.error().message;
  EXPECT_EQ(buffers->count(), 4u);
  EXPECT_TRUE(buffers->grow());
  EXPECT_EQ(buffers->count(), 8u);
  EXPECT_TRUE(buffers->grow());
  EXPECT_EQ(buffers->count(), 16u);
  EXPECT_FALSE(buffers->grow()) << "full at its capacity";
  EXPECT_EQ(buffers->count(), 16u);
  // Every buffer is its own memory, writable end to end.
  for (uint16_t id = 0; id < 16; id++) {
    std::memset(buffers->buffer(id), id, 2048);
    if (id > 0) {
      EXPECT_GE(std::abs(buffers->buffer(id) - buffers->buffer(id - 1)), 2048);
    }
  }
  for (uint16_t id = 0; id < 16; id++) EXPECT_EQ(buffers->buffer(id)[2047], id);
  EXPECT_FALSE(uring::BufferRing::create(*ring, 10, 16, 2048, 32)) << "starts with more than its capacity";
  EXPECT_FALSE(uring::BufferRing::create(*ring, 10, 16, 2048, 3)) << "3 is not a power of two";
}

}  // namespace
}  // namespace vnet
