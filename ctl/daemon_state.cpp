#include "ctl/daemon_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernel_ifaces/unique_fd.h"
#include "ctl/qapi/input_visitor.h"
#include "qapi_encode.h"
#include "qapi_visit.h"

namespace vnet {

namespace {

Result<void> write_all(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing " + path);
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

nlohmann::ordered_json netdev_record(const NetdevEntry& entry) {
  nlohmann::ordered_json record;
  record["id"] = entry.id;
  nlohmann::ordered_json options;
  qapi::to_json(options, entry.options);
  record["netdev"] = std::move(options);
  record["link-up"] = entry.link_up;
  if (!entry.peer.empty()) record["peer"] = entry.peer;
  record["details"] = details_json(*entry.backend);
  return record;
}

void DaemonState::changed() {
  if (save_pending_) return;
  save_pending_ = true;
  loop_.defer([this] {
    save_pending_ = false;
    if (auto saved = save_now(); !saved) std::fprintf(stderr, "vnetd: state: %s\n", saved.error().message.c_str());
  });
}

Result<void> DaemonState::save_now() {
  nlohmann::ordered_json state;
  state["version"] = kVersion;
  state["netdevs"] = nlohmann::ordered_json::array();
  for (const auto& entry : registry_.all()) state["netdevs"].push_back(netdev_record(*entry));
  state["announce-timers"] = nlohmann::ordered_json::array();
  if (announcer_) {
    for (const auto& timer : announcer_->snapshot()) {
      nlohmann::ordered_json params;
      qapi::to_json(params, timer.params);
      state["announce-timers"].push_back({{"params", params}, {"rounds-left", timer.rounds_left},
                                          {"due-ms", timer.due_ms}});
    }
  }
  state["vmm-attachments"] = nlohmann::ordered_json::array();
  if (vmm_) {
    for (const auto& spec : vmm_->saved()) state["vmm-attachments"].push_back(vmm::spec_json(spec));
  }
  std::string text = state.dump(1) + "\n";
  std::string temporary = path_ + ".new";
  UniqueFd fd(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return errno_error("creating " + temporary);
  if (auto written = write_all(fd.get(), text, temporary); !written) return written;
  if (fsync(fd.get()) < 0) return errno_error("fsync " + temporary);
  fd.reset();
  if (rename(temporary.c_str(), path_.c_str()) < 0) return errno_error("renaming " + temporary + " to " + path_);
  // The rename itself reaches the disk with its directory.
  std::string dir = path_.substr(0, path_.rfind('/'));
  if (UniqueFd dir_fd(open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir_fd) {
    fsync(dir_fd.get());
  }
  return {};
}

Result<std::optional<nlohmann::ordered_json>> DaemonState::load() const {
  std::ifstream file(path_);
  if (!file) {
    if (errno == ENOENT) return std::optional<nlohmann::ordered_json>();
    return errno_error("opening " + path_);
  }
  std::stringstream text;
  text << file.rdbuf();
  auto state = nlohmann::ordered_json::parse(text.str(), nullptr, false);
  if (state.is_discarded() || !state.is_object() || !state.contains("netdevs") || !state["netdevs"].is_array()) {
    return Error{EINVAL, path_ + ": not a vnetd state file (move it away to start afresh)"};
  }
  if (state.value("version", 0) != kVersion) {
    return Error{EINVAL, path_ + ": state version " + state.value("version", nlohmann::ordered_json()).dump() +
                             ", this vnetd reads version " + std::to_string(kVersion)};
  }
  return std::optional<nlohmann::ordered_json>(std::move(state));
}

std::vector<Announcer::Snapshot> announce_timers(const nlohmann::ordered_json& state) {
  std::vector<Announcer::Snapshot> out;
  if (!state.contains("announce-timers") || !state["announce-timers"].is_array()) return out;
  for (const auto& saved : state["announce-timers"]) {
    if (!saved.is_object() || !saved.contains("params")) continue;
    auto params = qapi::decode_struct<qapi::AnnounceParameters>(saved["params"],
                                                                 qapi::visit_type_AnnounceParameters_members);
    if (!params) continue;
    Announcer::Snapshot timer;
    timer.params = std::move(params.value());
    timer.rounds_left = saved.value("rounds-left", int64_t{0});
    timer.due_ms = saved.value("due-ms", int64_t{0});
    out.push_back(std::move(timer));
  }
  return out;
}

std::vector<vmm::AttachmentSpec> vmm_attachments(const nlohmann::ordered_json& state) {
  std::vector<vmm::AttachmentSpec> out;
  if (!state.contains("vmm-attachments") || !state["vmm-attachments"].is_array()) return out;
  for (const auto& saved : state["vmm-attachments"]) {
    if (auto spec = vmm::spec_from_json(saved)) {
      out.push_back(std::move(*spec));
    } else {
      std::fprintf(stderr, "vnetd: state: a VMM attachment record does not decode, skipped: %s\n",
                   saved.dump().c_str());
    }
  }
  return out;
}

void DaemonState::discard() {
  unlink(path_.c_str());
  unlink((path_ + ".new").c_str());
}

}  // namespace vnet
