// FrameLoopBatchTest - a fixture for tests that need code run inside one
// frame loop batch (as a relay's handler runs): a loop, and run_in_one_batch()
// which hands a trigger datagram to a receiver whose handler runs the code,
// then ends the batch.
#pragma once

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>

#include "backends/datapath/frame_loop.h"

namespace vnet::testing {

class FrameLoopBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = datapath::FrameLoop::create();
    ASSERT_TRUE(created) << created.error().message;
    loop_ = std::move(*created);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, trigger_), 0);
  }
  void TearDown() override {
    close(trigger_[0]);
    close(trigger_[1]);
  }
  void run_in_one_batch(const std::function<void()>& in_batch) {
    auto receiver = loop_->add_receiver(trigger_[1], [&](std::span<const uint8_t>) { in_batch(); });
    ASSERT_TRUE(receiver);
    ASSERT_EQ(send(trigger_[0], "x", 1, 0), 1);
    pollfd ready{loop_->event_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&ready, 1, 2000), 1);
    loop_->process();
    loop_->remove_receiver(*receiver);
  }

  std::unique_ptr<datapath::FrameLoop> loop_;
  int trigger_[2] = {-1, -1};
};

}  // namespace vnet::testing
