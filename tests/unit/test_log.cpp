// vnetd's log (kernel_ifaces/log.h) and libbpf's messages routed through it
// (ebpf/libbpf_log.h), read back from stderr: fd 2 is a memfd for each test.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ebpf/libbpf_log.h"
#include "kernel_ifaces/log.h"
#include "kernel_ifaces/unique_fd.h"

namespace vnet {
namespace {

// What is written to fd 2 while it lives; the real stderr is back after.
class StderrCapture {
 public:
  StderrCapture() : file_(memfd_create("stderr_capture", MFD_CLOEXEC)), saved_(dup(STDERR_FILENO)) {
    EXPECT_TRUE(file_ && saved_);
    // Appending, as a redirected stderr (2>>file) does: each write(2) lands
    // whole at the end, so lines written in pieces would show mixed.
    EXPECT_EQ(fcntl(file_.get(), F_SETFL, O_APPEND), 0);
    EXPECT_EQ(dup2(file_.get(), STDERR_FILENO), STDERR_FILENO);
  }
  ~StderrCapture() { dup2(saved_.get(), STDERR_FILENO); }

  std::string text() const {
    std::string out;
    char buffer[4096];
    for (off_t at = 0;;) {
      ssize_t n = pread(file_.get(), buffer, sizeof buffer, at);
      if (n <= 0) return out;
      out.append(buffer, static_cast<size_t>(n));
      at += n;
    }
  }

 private:
  UniqueFd file_;
  UniqueFd saved_;
};

// Each test leaves the threshold as it found it (the default, info).
class Log : public ::testing::Test {
 protected:
  void TearDown() override { log::set_threshold(log::Level::info); }
};

TEST_F(Log, OneLinePerCallWithTheProgramPrefix) {
  StderrCapture captured;
  log::error("state: fdatasync /run/vnetctl/journal: Input/output error");
  log::warning(std::string("refusing a QMP client: ") + "No such process");
  log::info("stopping");
  EXPECT_EQ(captured.text(),
            "vnetd: state: fdatasync /run/vnetctl/journal: Input/output error\n"
            "vnetd: refusing a QMP client: No such process\n"
            "vnetd: stopping\n");
}

TEST_F(Log, TheProgramNameIsThePrefix) {
  StderrCapture captured;
  log::set_program("anti_spoof_bench");
  log::warning("one");
  log::set_program("vnetd");
  log::warning("two");
  EXPECT_EQ(captured.text(), "anti_spoof_bench: one\nvnetd: two\n");
}

TEST_F(Log, DebugLinesOnlyAtTheDebugThreshold) {
  StderrCapture captured;
  EXPECT_EQ(log::threshold(), log::Level::info);
  log::debug("dropped");
  log::info("kept");
  log::set_threshold(log::Level::debug);
  log::debug("kept too");
  log::set_threshold(log::Level::error);
  log::warning("dropped at error");
  log::error("an error");
  EXPECT_EQ(captured.text(), "vnetd: kept\nvnetd: kept too\nvnetd: an error\n");
}

// One write(2) per line: threads' lines arrive whole, never mixed. (Written
// as prefix, then message, a few lines of 20,000 mix here even on 2 CPUs.)
TEST_F(Log, LinesFromThreadsDoNotInterleave) {
  StderrCapture captured;
  constexpr int kThreads = 4, kLines = 5000;
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &started] {
      std::string body(200, static_cast<char>('a' + t));
      started++;
      while (started < kThreads) std::this_thread::yield();  // all at once
      for (int i = 0; i < kLines; i++) log::info(body);
    });
  }
  for (auto& thread : threads) thread.join();
  std::istringstream lines(captured.text());
  int count = 0;
  for (std::string line; std::getline(lines, line); count++) {
    ASSERT_EQ(line.size(), 7u + 200u) << line;
    ASSERT_EQ(line.substr(0, 7), "vnetd: ");
    ASSERT_EQ(line.find_first_not_of(line[7], 7), std::string::npos) << line;
  }
  EXPECT_EQ(count, kThreads * kLines);
}

// The callback install_libbpf_log() gives libbpf, taken back from libbpf so
// that the one before it is restored for the other tests.
libbpf_print_fn_t our_libbpf_callback() {
  libbpf_print_fn_t before = libbpf_set_print(nullptr);
  ebpf::install_libbpf_log();
  return libbpf_set_print(before);
}

int print_through(libbpf_print_fn_t callback, libbpf_print_level level, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = callback(level, format, args);
  va_end(args);
  return n;
}

TEST_F(Log, LibbpfWarningsAreWarningLines) {
  libbpf_print_fn_t callback = our_libbpf_callback();
  ASSERT_NE(callback, nullptr);
  StderrCapture captured;
  // As libbpf's pr_warn() formats them: "libbpf: " already in the format.
  print_through(callback, LIBBPF_WARN, "libbpf: Kernel error message: %s\n", "Invalid argument");
  print_through(callback, LIBBPF_WARN, "failed to find BTF for %s %d\n", "prog", 7);
  log::set_threshold(log::Level::error);
  print_through(callback, LIBBPF_WARN, "libbpf: not at the error threshold\n");
  EXPECT_EQ(captured.text(),
            "vnetd: libbpf: Kernel error message: Invalid argument\n"
            "vnetd: libbpf: failed to find BTF for prog 7\n");
}

TEST_F(Log, LibbpfInfoAndDebugAreDebugLines) {
  libbpf_print_fn_t callback = our_libbpf_callback();
  StderrCapture captured;
  print_through(callback, LIBBPF_INFO, "libbpf: loaded %s\n", "info");
  print_through(callback, LIBBPF_DEBUG, "libbpf: loaded %s\n", "debug");
  EXPECT_EQ(captured.text(), "");
  log::set_threshold(log::Level::debug);
  print_through(callback, LIBBPF_INFO, "libbpf: loaded %s\n", "info");
  print_through(callback, LIBBPF_DEBUG, "libbpf: loaded %s\n", "debug");
  EXPECT_EQ(captured.text(), "vnetd: libbpf: loaded info\nvnetd: libbpf: loaded debug\n");
}

// bpf_tc_hook_create() on a device with a clsact qdisc: -EEXIST, handled by
// tc_ingress.cpp, and the kernel's extack text is no warning for a user.
TEST_F(Log, TheClsactExclusivityMessageIsADebugLine) {
  libbpf_print_fn_t callback = our_libbpf_callback();
  StderrCapture captured;
  print_through(callback, LIBBPF_WARN, "libbpf: Kernel error message: %s\n", "Exclusivity flag on, cannot modify");
  EXPECT_EQ(captured.text(), "");
  log::set_threshold(log::Level::debug);
  print_through(callback, LIBBPF_WARN, "libbpf: Kernel error message: %s\n", "Exclusivity flag on, cannot modify");
  EXPECT_EQ(captured.text(), "vnetd: libbpf: Kernel error message: Exclusivity flag on, cannot modify\n");
}

}  // namespace
}  // namespace vnet
