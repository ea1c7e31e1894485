// vhost-user's wire format (QEMU's docs/interop/vhost-user.rst): each
// request's payload and fd rules, and the builders against the decoders.
#include <sys/eventfd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/vhost_user/vhost_user_framer.h"
#include "backends/vhost_user/vhost_user_message.h"
#include "tests/unit/vhost_user_test_fds.h"

namespace vnet::vhost_user {
namespace {

using test::ClosedProbe;
using test::memfds;

Result<Message> parse(uint32_t request, std::span<const uint8_t> payload, std::vector<UniqueFd> fds = {},
                      uint32_t flags = 0) {
  Framer framer;
  framer.feed(encode_message(request, flags, payload), std::move(fds));
  auto next = framer.next();
  if (!next) return Error::plain("incomplete");
  return std::move(*next);
}

std::string error_of(uint32_t request, std::span<const uint8_t> payload, std::vector<UniqueFd> fds = {}) {
  Result<Message> message = parse(request, payload, std::move(fds));
  return message ? "accepted" : message.error().message;
}

TEST(VhostUserMessage, RequestsWithoutPayloadRefuseBytesAndFds) {
  for (uint32_t request : {VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM,
                           VHOST_USER_SET_OWNER, VHOST_USER_RESET_OWNER, VHOST_USER_GET_MAX_MEM_SLOTS,
                           VHOST_USER_RESET_DEVICE, VHOST_USER_GET_STATUS}) {
    SCOPED_TRACE(request_name(request));
    Result<Message> plain = parse(request, {});
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ(plain->request, request);
    EXPECT_TRUE(plain->payload.empty());
    EXPECT_EQ(error_of(request, encode_u64(0)), request_name(request) + ": payload of 8 bytes, expected 0");
    EXPECT_EQ(error_of(request, {}, memfds(1)), request_name(request) + ": 1 fd, expected none");
  }
}

TEST(VhostUserMessage, U64Requests) {
  for (uint32_t request : {VHOST_USER_SET_FEATURES, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_NET_SET_MTU,
                           VHOST_USER_SET_STATUS}) {
    SCOPED_TRACE(request_name(request));
    Result<Message> message = parse(request, encode_u64(0x1234'5678'9abc'def0));
    ASSERT_TRUE(message.ok()) << message.error().message;
    EXPECT_EQ(*decode_u64(*message), 0x1234'5678'9abc'def0u);
    std::vector<uint8_t> four(4, 0);
    EXPECT_EQ(error_of(request, four), request_name(request) + ": payload of 4 bytes, expected 8");
  }
}

TEST(VhostUserMessage, SendRarpCarriesTheMacInItsFirstSixBytes) {
  std::vector<uint8_t> payload{0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xee, 0xee};
  Result<Message> message = parse(VHOST_USER_SEND_RARP, payload);
  ASSERT_TRUE(message.ok());
  EXPECT_EQ(*decode_rarp_mac(*message), (std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}));
  EXPECT_EQ(error_of(VHOST_USER_SEND_RARP, std::span(payload).first(6)),
            "SEND_RARP: payload of 6 bytes, expected 8");
}

TEST(VhostUserMessage, VringStateAndAddress) {
  for (uint32_t request : {VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE, VHOST_USER_GET_VRING_BASE,
                           VHOST_USER_SET_VRING_ENABLE}) {
    Result<Message> message = parse(request, encode_vring_state({1, 256}));
    ASSERT_TRUE(message.ok());
    VringState state = *decode_vring_state(*message);
    EXPECT_EQ(state.index, 1u);
    EXPECT_EQ(state.num, 256u);
    EXPECT_EQ(error_of(request, std::vector<uint8_t>(4)), request_name(request) + ": payload of 4 bytes, expected 8");
  }
  VringAddress addr{1, 1u << VHOST_VRING_F_LOG, 0x7f0000001000, 0x7f0000003000, 0x7f0000002000, 0x3000};
  Result<Message> message = parse(VHOST_USER_SET_VRING_ADDR, encode_vring_addr(addr));
  ASSERT_TRUE(message.ok());
  VringAddress back = *decode_vring_addr(*message);
  EXPECT_EQ(std::memcmp(&back, &addr, sizeof addr), 0);
  EXPECT_EQ(error_of(VHOST_USER_SET_VRING_ADDR, std::vector<uint8_t>(32)),
            "SET_VRING_ADDR: payload of 32 bytes, expected 40");
}

TEST(VhostUserMessage, VringFdsArePresentExactlyWhenNofdIsClear) {
  for (uint32_t request : {VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_ERR}) {
    SCOPED_TRACE(request_name(request));
    std::vector<UniqueFd> one;
    one.emplace_back(eventfd(0, EFD_CLOEXEC));
    Result<Message> with_fd = parse(request, encode_u64(3), std::move(one));
    ASSERT_TRUE(with_fd.ok()) << with_fd.error().message;
    EXPECT_EQ(with_fd->fds.size(), 1u);
    VringFile file = *decode_vring_file(*with_fd);
    EXPECT_EQ(file.index, 3u);
    EXPECT_TRUE(file.has_fd);

    Result<Message> polled = parse(request, encode_u64(VHOST_USER_VRING_NOFD_MASK | 2));
    ASSERT_TRUE(polled.ok());
    EXPECT_FALSE(decode_vring_file(*polled)->has_fd);
    EXPECT_EQ(decode_vring_file(*polled)->index, 2u);

    EXPECT_EQ(error_of(request, encode_u64(3)), request_name(request) + ": NOFD clear but no fd came");
    EXPECT_EQ(error_of(request, encode_u64(VHOST_USER_VRING_NOFD_MASK | 3), memfds(1)),
              request_name(request) + ": NOFD set but an fd came");
    EXPECT_EQ(error_of(request, encode_u64(0x200 | VHOST_USER_VRING_NOFD_MASK)),
              request_name(request) + ": bits beyond the index and NOFD set in 768");
  }
}

RegionDescription region(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t offset = 0) {
  return RegionDescription{gpa, size, uva, offset};
}

TEST(VhostUserMessage, MemTableWantsOneToEightRegionsWithAnFdEach) {
  std::vector<RegionDescription> regions{region(0, 0x1000, 0x7f00'0000'0000), region(0x10000, 0x2000, 0x7f10'0000'0000, 0x1000),
                                         region(0x100000, 0x1000, 0x7f20'0000'0000)};
  Result<Message> message = parse(VHOST_USER_SET_MEM_TABLE, encode_memory_table(regions), memfds(3));
  ASSERT_TRUE(message.ok()) << message.error().message;
  EXPECT_EQ(message->fds.size(), 3u);
  EXPECT_EQ(*decode_memory_table(*message), regions);

  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, encode_memory_table(regions), memfds(2)),
            "SET_MEM_TABLE: 3 regions but 2 fds");
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, encode_memory_table(regions), memfds(4)),
            "SET_MEM_TABLE: 3 regions but 4 fds");
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, encode_memory_table({})), "SET_MEM_TABLE: 0 regions, expected 1 to 8");
  std::vector<RegionDescription> nine(9, region(0, 0x1000, 0));
  // Nine regions do not fit the union: the header's size is refused first.
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, encode_memory_table(nine), memfds(9)),
            "SET_MEM_TABLE: payload of 296 bytes, more than the 268 any request has");
  std::vector<uint8_t> nine_claimed = encode_memory_table(std::span(regions).first(1));
  nine_claimed[0] = 9;
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, nine_claimed, memfds(1)), "SET_MEM_TABLE: 9 regions, expected 1 to 8");
  std::vector<uint8_t> short_table = encode_memory_table(regions);
  short_table.resize(short_table.size() - 8);
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, short_table, memfds(3)),
            "SET_MEM_TABLE: payload of 96 bytes for 3 regions, expected 104");
  EXPECT_EQ(error_of(VHOST_USER_SET_MEM_TABLE, std::vector<uint8_t>(4)),
            "SET_MEM_TABLE: payload of 4 bytes, shorter than the region count");
}

TEST(VhostUserMessage, AddAndRemoveOneRegion) {
  RegionDescription one = region(0x40000, 0x1000, 0x7f00'0004'0000, 0x2000);
  Result<Message> add = parse(VHOST_USER_ADD_MEM_REG, encode_single_region(one), memfds(1));
  ASSERT_TRUE(add.ok()) << add.error().message;
  EXPECT_EQ(*decode_single_region(*add), one);
  EXPECT_EQ(error_of(VHOST_USER_ADD_MEM_REG, encode_single_region(one)), "ADD_MEM_REG: 0 fds, expected 1");
  EXPECT_EQ(error_of(VHOST_USER_ADD_MEM_REG, std::vector<uint8_t>(32), memfds(1)),
            "ADD_MEM_REG: payload of 32 bytes, expected 40");

  // REM_MEM_REG: no fd should come; one may, and is closed unused.
  ASSERT_TRUE(parse(VHOST_USER_REM_MEM_REG, encode_single_region(one)).ok());
  ClosedProbe probe;
  std::vector<UniqueFd> stray;
  stray.push_back(std::move(probe.write_end));
  Result<Message> remove = parse(VHOST_USER_REM_MEM_REG, encode_single_region(one), std::move(stray));
  ASSERT_TRUE(remove.ok());
  EXPECT_TRUE(remove->fds.empty());
  EXPECT_TRUE(probe.write_end_closed());
  EXPECT_EQ(error_of(VHOST_USER_REM_MEM_REG, encode_single_region(one), memfds(2)),
            "REM_MEM_REG: 2 fds, expected at most 1");
  EXPECT_EQ(error_of(VHOST_USER_REM_MEM_REG, std::vector<uint8_t>(32)), "REM_MEM_REG: payload of 32 bytes, expected 40");
}

TEST(VhostUserMessage, LogBaseAndLogFd) {
  Result<Message> base = parse(VHOST_USER_SET_LOG_BASE, encode_log({0x2000, 0x1000}), memfds(1));
  ASSERT_TRUE(base.ok()) << base.error().message;
  LogDescription log = *decode_log(*base);
  EXPECT_EQ(log.mmap_size, 0x2000u);
  EXPECT_EQ(log.mmap_offset, 0x1000u);
  EXPECT_EQ(error_of(VHOST_USER_SET_LOG_BASE, encode_log({0x2000, 0})), "SET_LOG_BASE: 0 fds, expected 1");
  EXPECT_EQ(error_of(VHOST_USER_SET_LOG_BASE, encode_u64(0x2000), memfds(1)),
            "SET_LOG_BASE: payload of 8 bytes, expected 16");
  EXPECT_TRUE(parse(VHOST_USER_SET_LOG_FD, {}, memfds(1)).ok());
  EXPECT_EQ(error_of(VHOST_USER_SET_LOG_FD, {}), "SET_LOG_FD: 0 fds, expected 1");
  EXPECT_EQ(error_of(VHOST_USER_SET_LOG_FD, {}, memfds(2)), "SET_LOG_FD: 2 fds, expected 1");
  EXPECT_TRUE(parse(VHOST_USER_SET_BACKEND_REQ_FD, {}, memfds(1)).ok());
  EXPECT_EQ(error_of(VHOST_USER_SET_BACKEND_REQ_FD, encode_u64(0), memfds(1)),
            "SET_BACKEND_REQ_FD: payload of 8 bytes, expected 0");
}

TEST(VhostUserMessage, ConfigWindowIsBoundedAndSizedByItsHeader) {
  ConfigSpace config{0, 0, {0x52, 0x54, 0, 1, 2, 3}};
  for (uint32_t request : {VHOST_USER_GET_CONFIG, VHOST_USER_SET_CONFIG}) {
    Result<Message> message = parse(request, encode_config(config));
    ASSERT_TRUE(message.ok()) << message.error().message;
    ConfigSpace back = *decode_config(*message);
    EXPECT_EQ(back.bytes, config.bytes);
  }
  std::vector<uint8_t> lying = encode_config(config);
  lying[4] = 7;  // size 7, 6 bytes follow
  EXPECT_EQ(error_of(VHOST_USER_SET_CONFIG, lying), "SET_CONFIG: payload of 18 bytes for a config of 7, expected 19");
  ConfigSpace far{250, 0, std::vector<uint8_t>(8)};
  EXPECT_EQ(error_of(VHOST_USER_GET_CONFIG, encode_config(far)),
            "GET_CONFIG: config window at 250 of 8 bytes, beyond 256");
  EXPECT_EQ(error_of(VHOST_USER_GET_CONFIG, std::vector<uint8_t>(8)),
            "GET_CONFIG: payload of 8 bytes, shorter than the config header");
}

TEST(VhostUserMessage, UnknownRequestsAreKeptWithTheirFdsClosed) {
  ClosedProbe probe;
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(probe.write_end));
  Result<Message> message = parse(1000, encode_u64(5), std::move(fds));
  ASSERT_TRUE(message.ok());
  EXPECT_FALSE(message->known);
  EXPECT_EQ(message->payload.size(), 8u);
  EXPECT_TRUE(message->fds.empty());
  EXPECT_TRUE(probe.write_end_closed());
  EXPECT_EQ(request_name(1000), "request 1000");
}

// A reply as a front end reads it: header and payload, unchecked (the
// request rules are for requests), then the typed decoders.
Message reply_of(const std::vector<uint8_t>& bytes) {
  EXPECT_GE(bytes.size(), kHeaderSize);
  Header header = decode_header(std::span<const uint8_t, kHeaderSize>(bytes.data(), kHeaderSize));
  EXPECT_EQ(header.size, bytes.size() - kHeaderSize);
  EXPECT_EQ(header.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
  return Message{header.request, header.flags, std::vector<uint8_t>(bytes.begin() + kHeaderSize, bytes.end()), {}, true};
}

TEST(VhostUserMessage, RepliesDecodeBack) {
  Message features = reply_of(build_u64_reply(VHOST_USER_GET_FEATURES, 0x1'4000'0000));
  EXPECT_EQ(features.request, VHOST_USER_GET_FEATURES);
  EXPECT_EQ(*decode_u64(features), 0x1'4000'0000u);
  Message base = reply_of(build_vring_state_reply(VHOST_USER_GET_VRING_BASE, {1, 77}));
  EXPECT_EQ(base.request, VHOST_USER_GET_VRING_BASE);
  EXPECT_EQ(decode_vring_state(base)->index, 1u);
  EXPECT_EQ(decode_vring_state(base)->num, 77u);
  Message config = reply_of(build_config_reply({4, 1, {1, 2, 3, 4, 5, 6}}));
  EXPECT_EQ(config.request, VHOST_USER_GET_CONFIG);
  EXPECT_EQ(decode_config(config)->offset, 4u);
  EXPECT_EQ(decode_config(config)->flags, 1u);
  EXPECT_EQ(decode_config(config)->bytes, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  Message ack = reply_of(build_reply_ack(VHOST_USER_SET_MEM_TABLE, true));
  EXPECT_EQ(ack.request, VHOST_USER_SET_MEM_TABLE);
  EXPECT_EQ(*decode_u64(ack), 0u);
  EXPECT_NE(*decode_u64(reply_of(build_reply_ack(VHOST_USER_SET_MEM_TABLE, false))), 0u);
  // The exact bytes QEMU reads for GET_FEATURES: request 1, flags 0x5, size 8.
  EXPECT_EQ(build_u64_reply(VHOST_USER_GET_FEATURES, 2),
            (std::vector<uint8_t>{1, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(VhostUserMessage, DecodersCheckTheSizeOfUnparsedMessages) {
  Message wrong{VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, std::vector<uint8_t>(3), {}, true};
  EXPECT_FALSE(decode_memory_table(wrong).ok());
  EXPECT_FALSE(decode_u64(wrong).ok());
  EXPECT_FALSE(decode_vring_state(wrong).ok());
  EXPECT_FALSE(decode_vring_addr(wrong).ok());
  EXPECT_FALSE(decode_config(wrong).ok());
  EXPECT_FALSE(decode_log(wrong).ok());
  EXPECT_FALSE(decode_single_region(wrong).ok());
  EXPECT_FALSE(decode_rarp_mac(wrong).ok());
}

}  // namespace
}  // namespace vnet::vhost_user
