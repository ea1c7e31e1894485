// chain_io: frames out of and into popped chains whose buffers are split in
// odd places (a header across two descriptors, a buffer across two regions),
// always bounded by the chain and by the caller's room.
#include "virtio/chain_io.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "tests/unit/virtio_test_ring.h"

namespace vnet::virtio {
namespace {

using testing::kBuffers;
using testing::kRegionB;
using testing::make_queue;
using testing::pop_one;
using testing::TestDriver;

constexpr size_t kNetHdr = 12;  // sizeof(struct virtio_net_hdr_v1)

std::vector<uint8_t> counting(size_t len, uint8_t first) {
  std::vector<uint8_t> bytes(len);
  std::iota(bytes.begin(), bytes.end(), first);
  return bytes;
}

// A transmit chain: 48 bytes counting from 0 in pieces of 8, 10 and 30 (the
// 12-byte header ends inside the second), the last piece across regions.
struct TxChain {
  TxChain() : driver(8) {
    driver.fill(kBuffers, 8, 0);
    driver.fill(kBuffers + 0x100, 10, 8);
    driver.fill(kRegionB - 16, 30, 18);
    driver.set_desc(0, kBuffers, 8, VRING_DESC_F_NEXT, 1);
    driver.set_desc(1, kBuffers + 0x100, 10, VRING_DESC_F_NEXT, 2);
    driver.set_desc(2, kRegionB - 16, 30);
    driver.offer(0);
    DeviceQueue queue = make_queue(driver);
    chain = pop_one(queue);
  }
  TestDriver driver;
  Chain chain;
};

TEST(ChainIo, CopyFromChainSkipsAHeaderSplitAcrossSegments) {
  TxChain tx;
  ASSERT_EQ(tx.chain.readable.size(), 4u);
  std::vector<uint8_t> frame(100, 0xee);
  size_t copied = copy_from_chain(tx.chain, kNetHdr, frame);
  ASSERT_EQ(copied, 36u);
  frame.resize(copied);
  EXPECT_EQ(frame, counting(36, kNetHdr));
}

// In place only when every byte past the skip lies in one segment: a view of
// exactly those bytes, never past the chain.
TEST(ChainIo, ReadableInPlaceOnlyWhenTheRestIsOneSegment) {
  TxChain tx;
  EXPECT_FALSE(readable_in_place(tx.chain, kNetHdr)) << "the frame spans three segments";
  EXPECT_FALSE(readable_in_place(tx.chain, 20)) << "across the region boundary";
  auto last = readable_in_place(tx.chain, 34);
  ASSERT_TRUE(last) << "the last segment (region B's part) alone";
  EXPECT_EQ(std::vector<uint8_t>(last->begin(), last->end()), counting(14, 34));
  auto tail = readable_in_place(tx.chain, 40);
  ASSERT_TRUE(tail);
  EXPECT_EQ(std::vector<uint8_t>(tail->begin(), tail->end()), counting(8, 40));
  EXPECT_FALSE(readable_in_place(tx.chain, 48)) << "nothing past the skip";
  EXPECT_FALSE(readable_in_place(tx.chain, 1000));
}

TEST(ChainIo, ReadableInPlaceOfAOneDescriptorFrame) {
  TestDriver driver(8);
  driver.fill(kBuffers, 60, 0);
  driver.set_desc(0, kBuffers, 60);
  driver.offer(0);
  DeviceQueue queue = make_queue(driver);
  Chain chain = pop_one(queue);
  auto frame = readable_in_place(chain, kNetHdr);
  ASSERT_TRUE(frame);
  EXPECT_EQ(std::vector<uint8_t>(frame->begin(), frame->end()), counting(48, kNetHdr));
}

TEST(ChainIo, CopyFromChainStopsAtTheCallersRoom) {
  TxChain tx;
  std::vector<uint8_t> frame(20, 0xee);
  frame.push_back(0x55);  // past the room given: must stay
  EXPECT_EQ(copy_from_chain(tx.chain, kNetHdr, std::span(frame).first(20)), 20u);
  EXPECT_EQ(std::vector<uint8_t>(frame.begin(), frame.begin() + 20), counting(20, kNetHdr));
  EXPECT_EQ(frame[20], 0x55);
}

TEST(ChainIo, CopyFromChainShorterThanItsHeader) {
  TxChain tx;
  std::vector<uint8_t> frame(10);
  EXPECT_EQ(copy_from_chain(tx.chain, 48, frame), 0u);
  EXPECT_EQ(copy_from_chain(tx.chain, 60, frame), 0u);
  EXPECT_EQ(copy_from_chain(tx.chain, 47, frame), 1u);
  EXPECT_EQ(frame[0], 47);
}

TEST(ChainIo, CopyFromChainIntoIovecs) {
  TxChain tx;
  std::vector<uint8_t> a(5), b(7), c(100);
  std::vector<iovec> out{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
  EXPECT_EQ(copy_from_chain(tx.chain, kNetHdr, std::span<const iovec>(out)), 36u);
  EXPECT_EQ(a, counting(5, 12));
  EXPECT_EQ(b, counting(7, 17));
  EXPECT_EQ(std::vector<uint8_t>(c.begin(), c.begin() + 24), counting(24, 24));
}

// A receive chain: writable pieces of 5, 20 and 100 bytes.
struct RxChain {
  RxChain() : driver(8) {
    driver.set_desc(4, kBuffers, 5, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 6);
    driver.set_desc(6, kBuffers + 0x100, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7);
    driver.set_desc(7, kBuffers + 0x200, 100, VRING_DESC_F_WRITE);
    driver.offer(4);
    DeviceQueue queue = make_queue(driver);
    chain = pop_one(queue);
  }
  std::vector<uint8_t> guest(uint64_t gpa, size_t len) {
    uint8_t* host = driver.memory.host(gpa, len);
    return std::vector<uint8_t>(host, host + len);
  }
  TestDriver driver;
  Chain chain;
};

TEST(ChainIo, CopyIntoChainWritesHeaderThenFrame) {
  RxChain rx;
  std::vector<uint8_t> header = counting(kNetHdr, 200), frame = counting(60, 0);
  EXPECT_EQ(copy_into_chain(rx.chain, header, frame), kNetHdr + 60);
  std::vector<uint8_t> written = rx.guest(kBuffers, 5);
  for (uint8_t byte : rx.guest(kBuffers + 0x100, 20)) written.push_back(byte);
  for (uint8_t byte : rx.guest(kBuffers + 0x200, 47)) written.push_back(byte);
  std::vector<uint8_t> expected = header;
  expected.insert(expected.end(), frame.begin(), frame.end());
  EXPECT_EQ(written, expected);
  EXPECT_EQ(rx.guest(kBuffers + 0x200 + 47, 1)[0], 0) << "written past the frame";
}

TEST(ChainIo, CopyIntoChainStopsAtTheChainsEnd) {
  RxChain rx;
  std::vector<uint8_t> header(kNetHdr, 1), frame(200, 2);
  EXPECT_EQ(copy_into_chain(rx.chain, header, frame), 125u);
  EXPECT_EQ(rx.guest(kBuffers + 0x200 + 99, 1)[0], 2);
  EXPECT_EQ(rx.guest(kBuffers + 5, 1)[0], 0) << "written past a segment";
}

TEST(ChainIo, CopyIntoChainTooSmallForItsHeader) {
  RxChain rx;
  std::vector<uint8_t> header(200, 1), frame(10, 2);
  EXPECT_EQ(copy_into_chain(rx.chain, header, frame), 125u);
  EXPECT_EQ(rx.guest(kBuffers + 0x200 + 99, 1)[0], 1);
}

TEST(ChainIo, CopyIntoChainWithoutWritablePart) {
  TxChain tx;
  std::vector<uint8_t> header(kNetHdr, 1), frame(10, 2);
  EXPECT_EQ(copy_into_chain(tx.chain, header, frame), 0u);
  EXPECT_EQ(tx.driver.memory.get<uint8_t>(kBuffers), 0) << "wrote into a readable buffer";
}

TEST(ChainIo, IovecsOfTheFrameAfterTheHeader) {
  TxChain tx;
  std::vector<iovec> out(8);
  IovecsMade made = chain_iovecs(tx.chain, ChainPart::readable, kNetHdr, out);
  ASSERT_EQ(made.count, 3u);
  EXPECT_EQ(made.bytes, 36u);
  EXPECT_TRUE(made.complete);
  EXPECT_EQ(out[0].iov_base, tx.driver.memory.host(kBuffers + 0x100 + 4, 6));
  EXPECT_EQ(out[0].iov_len, 6u);
  EXPECT_EQ(out[1].iov_base, tx.driver.memory.host(kRegionB - 16, 16));
  EXPECT_EQ(out[1].iov_len, 16u);
  EXPECT_EQ(out[2].iov_base, tx.driver.memory.host(kRegionB, 14));
  EXPECT_EQ(out[2].iov_len, 14u);
}

TEST(ChainIo, IovecsWhenTheArrayIsTooShort) {
  RxChain rx;
  std::vector<iovec> out(2);
  IovecsMade made = chain_iovecs(rx.chain, ChainPart::writable, 0, out);
  EXPECT_EQ(made.count, 2u);
  EXPECT_EQ(made.bytes, 25u);
  EXPECT_FALSE(made.complete);
}

TEST(ChainIo, IovecsPastTheEnd) {
  RxChain rx;
  std::vector<iovec> out(4);
  IovecsMade made = chain_iovecs(rx.chain, ChainPart::writable, 125, out);
  EXPECT_EQ(made.count, 0u);
  EXPECT_TRUE(made.complete);
  EXPECT_EQ(chain_iovecs(rx.chain, ChainPart::readable, 0, out).count, 0u);
}

}  // namespace
}  // namespace vnet::virtio
