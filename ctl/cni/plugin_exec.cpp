#include "ctl/cni/plugin_exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::cni {

namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Expected<Pipe> make_pipe(const char* what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(kIoFailure, std::string("pipe2 for ") + what + ": " + strerror(errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string shorten(std::string text, size_t limit = 2000) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  return text;
}

// Feeds input to fd `in` and reads `out` to its end, whichever is ready, so
// a plugin that writes before it has read everything cannot deadlock us.
Expected<std::string> exchange(UniqueFd in, UniqueFd out, const std::string& input, const std::string& name) {
  std::string output;
  size_t written = 0;
  if (input.empty()) in.reset();
  if (in) fcntl(in.get(), F_SETFL, fcntl(in.get(), F_GETFL) | O_NONBLOCK);
  while (out) {
    pollfd fds[2] = {{out.get(), POLLIN, 0}, {in ? in.get() : -1, POLLOUT, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(kIoFailure, "poll on " + name + "'s pipes: " + strerror(errno));
    }
    if (in && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in.get(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // EPIPE: the plugin exited without reading it all; its status says why.
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[16384];
      ssize_t n = read(out.get(), buffer, sizeof(buffer));
      if (n > 0) {
        output.append(buffer, static_cast<size_t>(n));
      } else if (n == 0) {
        out.reset();
      } else if (errno != EINTR && errno != EAGAIN) {
        return fail(kIoFailure, "reading " + name + "'s output: " + strerror(errno));
      }
    }
  }
  return output;
}

}  // namespace

Expected<std::string> find_plugin(const std::string& type, const std::string& cni_path) {
  if (cni_path.empty()) {
    return fail(kInvalidEnvironment, "required env variables [CNI_PATH] missing",
                "CNI_PATH names the directories to find plugin \"" + type + "\" in");
  }
  size_t start = 0;
  while (start <= cni_path.size()) {
    size_t end = cni_path.find(':', start);
    if (end == std::string::npos) end = cni_path.size();
    std::string dir = cni_path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + type;
      struct stat st {};
      if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    start = end + 1;
  }
  return fail(kInvalidEnvironment, "failed to find plugin \"" + type + "\" in path [" + cni_path + "] (CNI_PATH)");
}

Expected<std::string> run_plugin(const std::string& path, const std::string& input,
                                 const std::map<std::string, std::string>& environment) {
  auto to_child = make_pipe("stdin");
  if (!to_child) return tl::unexpected(to_child.error());
  auto from_child = make_pipe("stdout");
  if (!from_child) return tl::unexpected(from_child.error());
  // Written by the child only if execve() fails; closed by a successful one.
  auto exec_status = make_pipe("the exec status");
  if (!exec_status) return tl::unexpected(exec_status.error());

  // Everything the child needs is built before fork().
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : environment) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string argv0 = path;
  char* argv[] = {argv0.data(), nullptr};

  pid_t pid = fork();
  if (pid < 0) return fail(kIoFailure, "fork for " + path + ": " + strerror(errno));
  if (pid == 0) {
    // The child: stdin and stdout are the pipes, stderr stays ours (the
    // spec wants the delegate's stderr on the caller's). SIGPIPE back to its
    // default, which execve() would otherwise keep ignored.
    signal(SIGPIPE, SIG_DFL);
    if (dup2(to_child->read.get(), 0) < 0 || dup2(from_child->write.get(), 1) < 0) {
      int err = errno;
      (void)!write(exec_status->write.get(), &err, sizeof(err));
      _exit(127);
    }
    execve(argv[0], argv, envp.data());
    int err = errno;
    (void)!write(exec_status->write.get(), &err, sizeof(err));
    _exit(127);
  }
  to_child->read.reset();
  from_child->write.reset();
  exec_status->write.reset();

  auto output = exchange(std::move(to_child->write), std::move(from_child->read), input, path);
  int exec_errno = 0;
  ssize_t got = read(exec_status->read.get(), &exec_errno, sizeof(exec_errno));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
    return fail(kDelegateFailed, "could not run " + path + ": " + strerror(exec_errno));
  }
  if (!output) return output;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;

  // The plugin's own error, passed on as it is (SPEC.md: "If any of the
  // delegated plugins return error, error should be returned by the upper
  // plugin").
  auto error = nlohmann::json::parse(*output, nullptr, false);
  if (error.is_object() && error.contains("code") && error["code"].is_number_unsigned() && error.contains("msg") &&
      error["msg"].is_string()) {
    CniError passed{error["code"].get<unsigned>(), error["msg"].get<std::string>(), ""};
    if (error.contains("details") && error["details"].is_string()) passed.details = error["details"];
    return tl::unexpected(std::move(passed));
  }
  std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                      : "signal " + std::to_string(WTERMSIG(status));
  return fail(kDelegateFailed, path + " failed (" + how + ") without a CNI error", shorten(*output));
}

}  // namespace vnet::cni
