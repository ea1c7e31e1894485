// FrameLoop's two flush phases: releasers (who lent the frames they handed
// out) go after every sender, whatever the order they joined the batch in;
// flush_now() ends the batch for senders early, and does nothing inside a
// flush.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/datapath/frame_loop.h"
#include "tests/unit/frame_loop_batch.h"

namespace vnet {
namespace {

struct Recorder final : datapath::BatchFlush {
  Recorder(std::vector<std::string>& log, std::string name) : log(log), name(std::move(name)) {}
  void flush_batch() override {
    log.push_back(name);
    if (during) during();
  }
  std::vector<std::string>& log;
  std::string name;
  std::function<void()> during;
};

class FrameLoopPhases : public testing::FrameLoopBatchTest {
 protected:
  std::vector<std::string> log_;
};

TEST_F(FrameLoopPhases, ReleasersGoAfterEverySenderWhateverTheOrderTheyJoined) {
  Recorder releaser(log_, "releaser"), sender(log_, "sender"), late_sender(log_, "late sender");
  // A releaser that hands on more while releasing: that sender still goes,
  // in the same batch end.
  releaser.during = [&] { if (log_.size() < 4) loop_->defer_flush(late_sender); };
  run_in_one_batch([&] {
    loop_->defer_release(releaser);
    loop_->defer_flush(sender);
  });
  EXPECT_EQ(log_, (std::vector<std::string>{"sender", "releaser", "late sender"}));
}

TEST_F(FrameLoopPhases, FlushNowEndsTheBatchForSendersAndTheBatchGoesOn) {
  Recorder releaser(log_, "releaser"), sender(log_, "sender");
  run_in_one_batch([&] {
    loop_->defer_release(releaser);
    loop_->defer_flush(sender);
    loop_->flush_now();
    EXPECT_EQ(log_, (std::vector<std::string>{"sender", "releaser"}));
    EXPECT_TRUE(loop_->in_batch());
    loop_->defer_flush(sender);
  });
  EXPECT_EQ(log_, (std::vector<std::string>{"sender", "releaser", "sender"}));
}

TEST_F(FrameLoopPhases, FlushNowInsideAFlushDoesNothing) {
  Recorder sender(log_, "sender"), releaser(log_, "releaser");
  sender.during = [&] { loop_->flush_now(); };
  releaser.during = [&] { loop_->flush_now(); };
  run_in_one_batch([&] {
    loop_->defer_flush(sender);
    loop_->defer_release(releaser);
  });
  EXPECT_EQ(log_, (std::vector<std::string>{"sender", "releaser"}));
}

TEST_F(FrameLoopPhases, AForgottenReleaserIsNotCalled) {
  Recorder releaser(log_, "releaser"), sender(log_, "sender");
  run_in_one_batch([&] {
    loop_->defer_release(releaser);
    loop_->defer_flush(sender);
    loop_->forget_flush(releaser);
  });
  EXPECT_EQ(log_, (std::vector<std::string>{"sender"}));
}

}  // namespace
}  // namespace vnet
