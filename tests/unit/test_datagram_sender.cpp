// DatagramSender on UDP: runs of same-sized datagrams to one destination go as
// UDP GSO sends, and the receiver still gets each datagram whole, in order,
// with its own header; runs break where the size grows or the destination
// changes; a kernel that refuses GSO gets the same datagrams one by one.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/datapath/datagram_sender.h"
#include "backends/datapath/frame_loop.h"
#include "tests/unit/frame_loop_batch.h"

namespace vnet {
namespace {

struct UdpSink {
  int fd = -1;
  sockaddr_in address{};
  UdpSink() {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
      ADD_FAILURE() << "binding a UDP sink: " << strerror(errno);
    }
  }
  ~UdpSink() { close(fd); }
  std::vector<std::string> take() {
    std::vector<std::string> out;
    char buffer[70000];
    ssize_t n;
    while ((n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) >= 0) out.emplace_back(buffer, n);
    return out;
  }
};

// Sends `datagrams` (header, frame, sink) through a DatagramSender inside one
// frame loop batch, as a relay does, and returns the sender's details.
struct Datagram {
  std::string header, frame;
  UdpSink* to;
};

class BatchedUdpSend : public testing::FrameLoopBatchTest {
 protected:
  void SetUp() override {
    FrameLoopBatchTest::SetUp();
    sender_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(sender_fd_, 0);
  }
  void TearDown() override {
    close(sender_fd_);
    FrameLoopBatchTest::TearDown();
  }
  // All of `datagrams` queued in one batch.
  void send_in_one_batch(datapath::DatagramSender& sender, const std::vector<Datagram>& datagrams) {
    run_in_one_batch([&] {
      ASSERT_TRUE(loop_->in_batch());
      for (const auto& datagram : datagrams) {
        datapath::SocketAddress to{};
        to.v4 = datagram.to->address;
        sender.send({reinterpret_cast<const uint8_t*>(datagram.header.data()), datagram.header.size()},
                    {reinterpret_cast<const uint8_t*>(datagram.frame.data()), datagram.frame.size()}, &to,
                    sizeof to.v4);
      }
    });
  }

  int sender_fd_ = -1;
};

std::vector<std::string> expected_at(const std::vector<Datagram>& datagrams, const UdpSink& sink) {
  std::vector<std::string> out;
  for (const auto& datagram : datagrams) {
    if (datagram.to == &sink) out.push_back(datagram.header + datagram.frame);
  }
  return out;
}

TEST_F(BatchedUdpSend, RunsOfEqualSizeGoAsGsoSendsAndArriveAsTheSameDatagrams) {
  UdpSink one, two;
  std::vector<Datagram> datagrams;
  for (int i = 0; i < 10; i++) datagrams.push_back({"h" + std::to_string(i % 10), std::string(99, char('a' + i)), &one});
  datagrams.push_back({"", std::string(37, 'S'), &one});            // shorter: ends the run
  for (int i = 0; i < 3; i++) datagrams.push_back({"", std::string(200, char('k' + i)), &one});  // larger: a new run
  datagrams.push_back({"", std::string(200, 'x'), &two});           // another destination
  datagrams.push_back({"", std::string(200, 'y'), &one});
  for (int i = 0; i < 70; i++) datagrams.push_back({"", std::string(64, char('0' + i % 10)), &two});  // > one run's 64

  datapath::DatagramSender sender(*loop_, sender_fd_);
  ASSERT_TRUE(sender.gso_enabled());
  send_in_one_batch(sender, datagrams);

  EXPECT_EQ(one.take(), expected_at(datagrams, one));
  EXPECT_EQ(two.take(), expected_at(datagrams, two));
  EXPECT_EQ(sender.counters().frames, datagrams.size());
  EXPECT_EQ(sender.counters().drops_error, 0u);
  // Runs: 10+1 to one, 3 to one, 64 + 6 to two (a batch flushes at 64 queued,
  // so the split falls where the queue was flushed): at least three.
  EXPECT_GE(sender.counters().gso_sends, 3u);
  EXPECT_LT(sender.counters().gso_sends, datagrams.size());
  EXPECT_TRUE(sender.gso_enabled());
}

// SO_NO_CHECK makes the kernel refuse UDP GSO (EINVAL): the sender turns GSO
// off, says why, and the same datagrams arrive one by one.
TEST_F(BatchedUdpSend, ARefusedGsoSendFallsBackToOneByOne) {
  int on = 1;
  ASSERT_EQ(setsockopt(sender_fd_, SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  UdpSink sink;
  std::vector<Datagram> datagrams;
  for (int i = 0; i < 20; i++) datagrams.push_back({"", std::string(300, char('a' + i)), &sink});
  datapath::DatagramSender sender(*loop_, sender_fd_);
  send_in_one_batch(sender, datagrams);
  EXPECT_EQ(sink.take(), expected_at(datagrams, sink));
  EXPECT_EQ(sender.counters().frames, datagrams.size());
  EXPECT_EQ(sender.counters().drops_error, 0u);
  EXPECT_FALSE(sender.gso_enabled());
  bool refused_named = false;
  for (const auto& detail : sender.details()) {
    if (detail.key == "udp-gso-refused") refused_named = true;
  }
  EXPECT_TRUE(refused_named);
}

TEST(DatagramSenderGso, OnlyUdpSocketsUseIt) {
  auto loop = datapath::FrameLoop::create();
  ASSERT_TRUE(loop);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
  datapath::DatagramSender unix_sender(**loop, pair[0]);
  EXPECT_FALSE(unix_sender.gso_enabled());
  for (const auto& detail : unix_sender.details()) EXPECT_NE(detail.key, "udp-gso");
  int raw = socket(AF_INET, SOCK_RAW, 115);  // l2tpv3's IP encapsulation
  ASSERT_GE(raw, 0);
  datapath::DatagramSender raw_sender(**loop, raw);
  EXPECT_FALSE(raw_sender.gso_enabled());
  for (int fd : {pair[0], pair[1], raw}) close(fd);
}

}  // namespace
}  // namespace vnet
