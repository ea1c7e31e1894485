#include "tests/lab/harness/vnetd_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::lab {

namespace {

using namespace std::chrono_literals;
// Under TCG a dynamically linked daemon takes a while to start.
constexpr auto kStartTimeout = 20s;
constexpr auto kStopTimeout = 10s;

bool accepts(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return fd && connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::string VnetdProcess::binary() {
  if (const char* env = std::getenv("VNETD"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto candidate = self.parent_path() / ".." / ".." / "bin" / "vnetd";
    if (std::filesystem::exists(candidate, ec)) return candidate.lexically_normal().string();
  }
  return "vnetd";
}

Result<VnetdProcess> VnetdProcess::start(const std::string& config_file) {
  char pattern[] = "/tmp/vnetd-lab.XXXXXX";
  if (!mkdtemp(pattern)) return errno_error("mkdtemp /tmp/vnetd-lab.XXXXXX");
  VnetdProcess p;
  p.dir_ = pattern;
  p.socket_ = p.dir_ + "/qmp.sock";
  p.config_file_ = config_file;
  if (auto launched = p.launch(); !launched) return launched.take_error();
  return p;
}

Result<void> VnetdProcess::launch() {
  std::string state = dir_ + "/state";
  std::string acl = dir_ + "/bridge.conf";  // absent: every bridge denied
  std::string bin = binary();
  ::unlink(socket_.c_str());

  pid_ = fork();
  if (pid_ < 0) return errno_error("fork");
  if (pid_ == 0) {
    if (config_file_.empty()) {
      execlp(bin.c_str(), bin.c_str(), "--socket", socket_.c_str(), "--state-dir", state.c_str(), "--bridge-acl",
             acl.c_str(), static_cast<char*>(nullptr));
    } else {
      execlp(bin.c_str(), bin.c_str(), "--socket", socket_.c_str(), "--state-dir", state.c_str(), "--bridge-acl",
             acl.c_str(), "--config", config_file_.c_str(), static_cast<char*>(nullptr));
    }
    std::fprintf(stderr, "exec %s: %s\n", bin.c_str(), std::strerror(errno));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (!accepts(socket_)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Error::plain(bin + " " + describe_status(status) + " before serving " + socket_);
    }
    if (std::chrono::steady_clock::now() > deadline) return Error::plain(bin + " did not serve " + socket_ + " in 20 s");
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

Result<void> VnetdProcess::kill_and_restart() {
  if (pid_ < 0) return Error::plain("vnetd is not running");
  pid_t pid = std::exchange(pid_, -1);
  if (kill(pid, SIGKILL) < 0) return errno_error("SIGKILL to vnetd");
  int status = 0;
  waitpid(pid, &status, 0);
  return launch();
}

VnetdProcess::VnetdProcess(VnetdProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), dir_(std::move(other.dir_)), socket_(std::move(other.socket_)),
      config_file_(std::move(other.config_file_)) {
  other.dir_.clear();
}

Result<int> VnetdProcess::stop() {
  if (pid_ < 0) return Error::plain("vnetd is not running");
  pid_t pid = std::exchange(pid_, -1);
  if (kill(pid, SIGTERM) < 0) return errno_error("SIGTERM to vnetd");
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return Error::plain("vnetd did not stop within 10 s of SIGTERM");
    }
    std::this_thread::sleep_for(10ms);
  }
  if (!WIFEXITED(status)) return Error::plain("vnetd " + describe_status(status));
  return WEXITSTATUS(status);
}

VnetdProcess::~VnetdProcess() {
  if (pid_ >= 0) (void)stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace vnet::lab
