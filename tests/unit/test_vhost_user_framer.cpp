// The vhost-user framer: messages cut from bytes however they arrive, the
// fds placed with the message whose first byte came with them, a broken
// stream refused for good; and receive() over a real socketpair, fds by
// SCM_RIGHTS.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/vhost_user/vhost_user_framer.h"
#include "kernel_ifaces/scm_rights.h"
#include "tests/unit/vhost_user_test_fds.h"

namespace vnet::vhost_user {
namespace {

using test::ClosedProbe;
using test::make_memfd;
using test::memfds;

RegionDescription region(uint64_t gpa, uint64_t size, uint64_t uva) { return RegionDescription{gpa, size, uva, 0}; }

TEST(VhostUserFramer, ARefusedMessageClosesItsFdsAndTheNextOneFollows) {
  ClosedProbe probe;
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(probe.write_end));
  Framer framer;
  framer.feed(encode_message(VHOST_USER_SET_OWNER, 0, {}), std::move(fds));
  framer.feed(encode_message(VHOST_USER_GET_FEATURES, VHOST_USER_NEED_REPLY_MASK, {}));
  auto refused = framer.next();
  ASSERT_TRUE(refused && !refused->ok());
  EXPECT_EQ(refused->error().message, "SET_OWNER: 1 fd, expected none");
  EXPECT_TRUE(probe.write_end_closed());
  auto next = framer.next();
  ASSERT_TRUE(next && next->ok());
  EXPECT_EQ((*next)->request, VHOST_USER_GET_FEATURES);
  EXPECT_TRUE((*next)->need_reply());
  EXPECT_FALSE(framer.next());
}

TEST(VhostUserFramer, ABadHeaderBreaksTheStream) {
  Framer wrong_version;
  std::vector<uint8_t> bytes = encode_message(VHOST_USER_GET_FEATURES, 0, {});
  bytes[4] = 2;
  wrong_version.feed(bytes);
  ASSERT_TRUE(wrong_version.broken());
  EXPECT_EQ(wrong_version.next()->error().message, "GET_FEATURES: protocol version 2, expected 1");
  // Dropped from then on, fds closed.
  ClosedProbe probe;
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(probe.write_end));
  wrong_version.feed(encode_message(VHOST_USER_SET_LOG_FD, 0, {}), std::move(fds));
  EXPECT_TRUE(probe.write_end_closed());
  EXPECT_FALSE(wrong_version.next()->ok());

  Framer oversized;
  uint8_t header[kHeaderSize] = {};
  uint32_t fields[3] = {VHOST_USER_SET_CONFIG, VHOST_USER_VERSION, kMaxPayloadSize + 1};
  std::memcpy(header, fields, sizeof header);
  oversized.feed(header);
  EXPECT_EQ(oversized.next()->error().message, "SET_CONFIG: payload of 269 bytes, more than the 268 any request has");
}

TEST(VhostUserFramer, FramerOneByteAtATimeWithFdsOnTheFirstByte) {
  std::vector<RegionDescription> regions{region(0, 0x1000, 0x1000), region(0x1000, 0x1000, 0x2000)};
  std::vector<std::vector<uint8_t>> sent{encode_message(VHOST_USER_SET_MEM_TABLE, 0, encode_memory_table(regions)),
                                         encode_message(VHOST_USER_SET_FEATURES, 0, encode_u64(1ull << 32))};
  Framer framer;
  for (const auto& bytes : sent) {
    for (size_t i = 0; i < bytes.size(); i++) {
      EXPECT_EQ(framer.bytes_wanted(), i < kHeaderSize ? kHeaderSize - i : bytes.size() - i);
      bool first = i == 0 && bytes == sent[0];
      framer.feed(std::span(&bytes[i], 1), first ? memfds(2) : std::vector<UniqueFd>{});
      auto message = framer.next();
      ASSERT_EQ(message.has_value(), i + 1 == bytes.size()) << "at byte " << i;
    }
  }
  Framer again;
  for (const auto& bytes : sent) {
    for (size_t i = 0; i < bytes.size(); i++) again.feed(std::span(&bytes[i], 1), i == 0 && bytes == sent[0] ? memfds(2) : std::vector<UniqueFd>{});
  }
  auto table = again.next();
  ASSERT_TRUE(table && table->ok()) << table->error().message;
  EXPECT_EQ((*table)->fds.size(), 2u);
  EXPECT_EQ(*decode_memory_table(**table), regions);
  auto features = again.next();
  ASSERT_TRUE(features && features->ok());
  EXPECT_EQ(*decode_u64(**features), 1ull << 32);
}

TEST(VhostUserFramer, FdsGoToTheLastMessageBeginningInTheChunk) {
  std::vector<uint8_t> chunk = encode_message(VHOST_USER_GET_FEATURES, 0, {});
  std::vector<uint8_t> log_fd = encode_message(VHOST_USER_SET_LOG_FD, 0, {});
  chunk.insert(chunk.end(), log_fd.begin(), log_fd.end());
  Framer framer;
  framer.feed(chunk, memfds(1));
  EXPECT_TRUE(framer.next()->ok());
  auto second = framer.next();
  ASSERT_TRUE(second->ok()) << second->error().message;
  EXPECT_EQ((*second)->fds.size(), 1u);
}

TEST(VhostUserFramer, FdsInTheMiddleOfAMessageBreakTheStream) {
  std::vector<uint8_t> bytes = encode_message(VHOST_USER_SET_FEATURES, 0, encode_u64(1));
  Framer framer;
  framer.feed(std::span(bytes).first(4));
  framer.feed(std::span(bytes).subspan(4), memfds(1));
  ASSERT_TRUE(framer.broken());
  EXPECT_EQ(framer.next()->error().message, "1 fd arrived in the middle of a message");
}

// --- receive() over a socketpair, fds by SCM_RIGHTS.

struct SocketPair {
  UniqueFd front_end, back_end;
  SocketPair() {
    int ends[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    front_end.reset(ends[0]);
    back_end.reset(ends[1]);
  }
  void send(const std::vector<uint8_t>& bytes, std::vector<int> fds = {}) {
    auto sent = scm::send(front_end.get(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), fds);
    ASSERT_TRUE(sent.ok());
    ASSERT_EQ(*sent, bytes.size());
  }
};

Result<Message> receive_one(int sock, Framer& framer) {
  for (;;) {
    if (auto next = framer.next()) return std::move(*next);
    Result<size_t> got = receive(sock, framer);
    if (!got) return got.take_error();
    if (*got == 0) return Error::plain("peer closed");
  }
}

TEST(VhostUserFramer, ReceiveTakesFdsOverScmRights) {
  SocketPair pair;
  UniqueFd call(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  pair.send(encode_message(VHOST_USER_GET_FEATURES, 0, {}));
  pair.send(encode_message(VHOST_USER_SET_VRING_CALL, 0, encode_u64(1)), {call.get()});
  std::vector<RegionDescription> regions{region(0, 0x1000, 0x1000), region(0x1000, 0x1000, 0x2000)};
  UniqueFd a = make_memfd(), b = make_memfd();
  pair.send(encode_message(VHOST_USER_SET_MEM_TABLE, 0, encode_memory_table(regions)), {a.get(), b.get()});

  Framer framer;
  ASSERT_EQ(receive_one(pair.back_end.get(), framer)->request, VHOST_USER_GET_FEATURES);
  Result<Message> set_call = receive_one(pair.back_end.get(), framer);
  ASSERT_TRUE(set_call.ok()) << set_call.error().message;
  ASSERT_EQ(set_call->fds.size(), 1u);
  // The fd that came is the same eventfd: a count written to one is read from the other.
  uint64_t one = 1, got = 0;
  ASSERT_EQ(write(call.get(), &one, sizeof one), 8);
  ASSERT_EQ(read(set_call->fds[0].get(), &got, sizeof got), 8);
  EXPECT_EQ(got, 1u);
  EXPECT_TRUE(fcntl(set_call->fds[0].get(), F_GETFD) & FD_CLOEXEC);
  Result<Message> table = receive_one(pair.back_end.get(), framer);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_EQ(table->fds.size(), 2u);

  pair.front_end.reset();
  Framer after;
  EXPECT_EQ(*receive(pair.back_end.get(), after), 0u);
}

TEST(VhostUserFramer, ReceiveRefusesTruncatedFds) {
  SocketPair pair;
  std::vector<UniqueFd> many = memfds(scm::kMaxFdsPerMessage + 1);
  std::vector<int> numbers;
  for (const UniqueFd& fd : many) numbers.push_back(fd.get());
  pair.send(encode_message(VHOST_USER_SET_LOG_FD, 0, {}), numbers);
  Framer framer;
  Result<size_t> got = receive(pair.back_end.get(), framer);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().errnum, EMSGSIZE);
}

TEST(VhostUserFramer, ReceiveOnAnEmptyNonBlockingSocketSaysEagain) {
  SocketPair pair;
  ASSERT_EQ(fcntl(pair.back_end.get(), F_SETFL, O_NONBLOCK), 0);
  Framer framer;
  Result<size_t> got = receive(pair.back_end.get(), framer);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().errnum, EAGAIN);
}

}  // namespace
}  // namespace vnet::vhost_user
