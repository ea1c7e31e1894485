// The socket netdev's stream framing (QEMU's 4-byte big-endian length before
// each frame) and the frame loop's batches: frames split anywhere arrive
// whole; frames whole in a chunk are handed on in place; a length over
// QEMU's limit is an error; put-together buffers stay valid for the batch.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "backends/socket/length_prefix.h"

namespace vnet {
namespace {

std::vector<uint8_t> framed(const std::vector<std::string>& frames) {
  std::vector<uint8_t> out;
  for (const auto& frame : frames) {
    uint32_t length = static_cast<uint32_t>(frame.size());
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<uint8_t>(length >> shift));
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}

TEST(LengthPrefix, FramesSplitAtEveryPossiblePointArriveWhole) {
  std::vector<std::string> frames{"first frame", std::string(1500, 'x'), "", "last"};
  auto stream = framed(frames);
  for (size_t cut = 0; cut <= stream.size(); cut++) {
    socket::LengthPrefixReader reader;
    std::vector<std::string> seen;
    auto collect = [&](std::span<const uint8_t> frame) { seen.emplace_back(frame.begin(), frame.end()); };
    ASSERT_TRUE(reader.feed(std::span(stream).first(cut), collect));
    ASSERT_TRUE(reader.feed(std::span(stream).subspan(cut), collect));
    // The empty frame is not handed on.
    EXPECT_EQ(seen, (std::vector<std::string>{"first frame", std::string(1500, 'x'), "last"})) << "cut at " << cut;
  }
}

TEST(LengthPrefix, ByteByByteAndInPlace) {
  auto stream = framed({"abc", "defgh"});
  socket::LengthPrefixReader reader;
  std::vector<std::string> seen;
  for (uint8_t byte : stream) {
    ASSERT_TRUE(reader.feed({&byte, 1}, [&](std::span<const uint8_t> f) { seen.emplace_back(f.begin(), f.end()); }));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"abc", "defgh"}));
  // Whole in one chunk: the span points into the chunk itself.
  const uint8_t* where = nullptr;
  ASSERT_TRUE(reader.feed(stream, [&](std::span<const uint8_t> f) {
    if (!where) where = f.data();
  }));
  EXPECT_EQ(where, stream.data() + 4);
}

TEST(LengthPrefix, PutTogetherFramesStayValidUntilTheBatchEnds) {
  socket::LengthPrefixReader reader;
  std::vector<std::span<const uint8_t>> kept;
  auto keep = [&](std::span<const uint8_t> f) { kept.push_back(f); };
  auto first = framed({"one-one-one"}), second = framed({"two-two-two"});
  ASSERT_TRUE(reader.feed(std::span(first).first(6), keep));
  ASSERT_TRUE(reader.feed(std::span(first).subspan(6), keep));
  ASSERT_TRUE(reader.feed(std::span(second).first(6), keep));
  ASSERT_TRUE(reader.feed(std::span(second).subspan(6), keep));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(std::string(kept[0].begin(), kept[0].end()), "one-one-one");
  EXPECT_EQ(std::string(kept[1].begin(), kept[1].end()), "two-two-two");
}

TEST(LengthPrefix, OverQemusLimitIsAnErrorThenAFreshStart) {
  socket::LengthPrefixReader reader;
  uint32_t too_long = socket::LengthPrefixReader::kMaxFrame + 1;
  uint8_t header[4] = {uint8_t(too_long >> 24), uint8_t(too_long >> 16), uint8_t(too_long >> 8), uint8_t(too_long)};
  auto fed = reader.feed(header, [](std::span<const uint8_t>) { FAIL() << "no frame expected"; });
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("over the limit"), std::string::npos);
  reader.reset();
  auto ok = framed({std::string(socket::LengthPrefixReader::kMaxFrame, 'm')});
  int frames = 0;
  ASSERT_TRUE(reader.feed(ok, [&](std::span<const uint8_t>) { frames++; }));
  EXPECT_EQ(frames, 1) << "a frame of exactly the limit is taken";
}

// Frames received on the loop and sent on by reference in the same batch go
// out in one sendmmsg, intact, once the batch ends.
TEST(FrameLoop, RelaysABurstByReferenceInOneBatch) {
  auto loop = datapath::FrameLoop::create();
  ASSERT_TRUE(loop) << loop.error().message;
  int in[2], out[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, in), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, out), 0);
  datapath::DatagramSender sender(**loop, out[0]);
  int batches_seen = 0;
  auto receiver = (*loop)->add_receiver(in[1], [&](std::span<const uint8_t> frame) {
    EXPECT_TRUE((*loop)->in_batch());
    sender.send({}, frame, nullptr, 0);
  });
  ASSERT_TRUE(receiver);
  constexpr int kFrames = 40;
  for (int i = 0; i < kFrames; i++) {
    std::string frame = "frame " + std::to_string(i);
    ASSERT_EQ(send(in[0], frame.data(), frame.size(), 0), ssize_t(frame.size()));
  }
  int received = 0;
  while (received < kFrames && batches_seen < 50) {
    pollfd ready{(*loop)->event_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&ready, 1, 2000), 1);
    (*loop)->process();
    batches_seen++;
    char buffer[64];
    ssize_t n;
    while ((n = recv(out[1], buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
      EXPECT_EQ(std::string(buffer, n), "frame " + std::to_string(received));
      received++;
    }
  }
  EXPECT_EQ(received, kFrames);
  EXPECT_EQ(sender.counters().frames, uint64_t(kFrames));
  (*loop)->remove_receiver(*receiver);
  for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
}

// An idle receiver holds a few buffers; a burst larger than them makes the
// kernel run out (ENOBUFS), and the receiver doubles its buffers, up to a
// bound, losing nothing meanwhile.
TEST(FrameLoop, ReceiveBuffersGrowWithABurstAndStayBounded) {
  auto loop = datapath::FrameLoop::create();
  ASSERT_TRUE(loop) << loop.error().message;
  int in[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, in), 0);
  std::vector<std::string> got;
  auto receiver = (*loop)->add_receiver(in[1], [&](std::span<const uint8_t> frame) {
    got.emplace_back(reinterpret_cast<const char*>(frame.data()), frame.size());
  });
  ASSERT_TRUE(receiver);
  unsigned idle = (*loop)->receive_buffers(*receiver);
  EXPECT_LE(idle, 4u) << "an idle receiver holds few buffers";
  EXPECT_GT(idle, 0u);
  // More than the most buffers a receiver may hold, queued before one batch
  // runs (the sender's buffer enlarged to hold them all).
  constexpr int kFrames = 300;
  int send_buffer = 4 << 20;
  ASSERT_EQ(setsockopt(in[0], SOL_SOCKET, SO_SNDBUFFORCE, &send_buffer, sizeof send_buffer), 0);
  for (int i = 0; i < kFrames; i++) {
    std::string frame = "frame " + std::to_string(i);
    ASSERT_EQ(send(in[0], frame.data(), frame.size(), 0), ssize_t(frame.size()));
  }
  for (int rounds = 0; got.size() < size_t(kFrames) && rounds < 200; rounds++) {
    pollfd ready{(*loop)->event_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&ready, 1, 2000), 1);
    (*loop)->process();
  }
  ASSERT_EQ(got.size(), size_t(kFrames));
  for (int i = 0; i < kFrames; i++) EXPECT_EQ(got[i], "frame " + std::to_string(i));
  unsigned busy = (*loop)->receive_buffers(*receiver);
  EXPECT_GT(busy, idle) << "the burst made the receiver grow its buffers";
  EXPECT_LE(busy, 64u) << "and no further than its bound";
  (*loop)->remove_receiver(*receiver);
  EXPECT_EQ((*loop)->receive_buffers(*receiver), 0u);
  for (int fd : in) close(fd);
}

}  // namespace
}  // namespace vnet
