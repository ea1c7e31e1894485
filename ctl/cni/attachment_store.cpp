#include "ctl/cni/attachment_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

namespace {

constexpr const char* kSuffix = ".json";
constexpr const char* kTemporarySuffix = ".tmp";

std::string errno_text(int error) { return std::strerror(error); }

tl::unexpected<CniError> io_failure(const std::string& what, const std::string& path, int error) {
  return fail(kIoFailure, "vnetctl-cni's record: " + what + " " + path + ": " + errno_text(error));
}

std::string string_member(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// fsync of a directory, so that an entry made or renamed in it survives a
// crash (the file's own fsync does not cover its name).
Expected<void> sync_directory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return io_failure("opening directory", path, errno);
  if (fsync(fd.get()) < 0) return io_failure("fsync of directory", path, errno);
  return {};
}

std::string parent_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// mkdir of path (and of its missing parents, 0755), made durable in its
// parent; an existing directory is left as it is.
Expected<void> make_directory(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) == 0) return sync_directory(parent_of(path));
  if (errno == EEXIST) return {};
  if (errno != ENOENT || path == "/") return io_failure("creating directory", path, errno);
  if (auto parent = make_directory(parent_of(path), 0755); !parent) return parent;
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) return io_failure("creating directory", path, errno);
  return sync_directory(parent_of(path));
}

Expected<void> write_all(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure("writing", path, errno);
    done += static_cast<size_t>(n);
  }
  return {};
}

// ".ID.json.PID.tmp": a writer's temporary file; its PID, or 0 for a name
// that is not one.
pid_t temporary_writer(const std::string& name) {
  if (name.empty() || name[0] != '.' || !ends_with(name, kTemporarySuffix)) return 0;
  std::string stem = name.substr(0, name.size() - std::strlen(kTemporarySuffix));
  size_t dot = stem.find_last_of('.');
  if (dot == std::string::npos || dot + 1 >= stem.size()) return 0;
  pid_t pid = 0;
  for (char c : stem.substr(dot + 1)) {
    if (c < '0' || c > '9' || pid > 100000000) return 0;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

}  // namespace

json stored_attachment_json(const StoredAttachment& record) {
  return {{"network", record.key.network}, {"container-id", record.key.container_id},
          {"ifname", record.key.ifname},   {"netns", record.netns},
          {"netdev", record.id},           {"data", record.data}};
}

std::optional<StoredAttachment> stored_attachment_from_json(const json& text) {
  if (!text.is_object()) return std::nullopt;
  StoredAttachment record;
  record.id = string_member(text, "netdev");
  record.key = {string_member(text, "network"), string_member(text, "container-id"), string_member(text, "ifname")};
  record.netns = string_member(text, "netns");
  if (record.id.empty() || record.key.network.empty() || record.key.container_id.empty() ||
      record.key.ifname.empty()) {
    return std::nullopt;
  }
  auto data = text.find("data");
  if (data == text.end() || !data->is_object()) return std::nullopt;
  record.data = *data;
  return record;
}

AttachmentStore::AttachmentStore(std::string data_dir, std::string network)
    : data_dir_(std::move(data_dir)), network_(std::move(network)) {
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  directory_ = data_dir_ + "/" + network_;
}

std::string AttachmentStore::path_of(const std::string& id) const { return directory_ + "/" + id + kSuffix; }

Expected<std::optional<StoredAttachment>> AttachmentStore::read(const std::string& id) const {
  std::string path = path_of(id);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return std::optional<StoredAttachment>();
    return io_failure("opening", path, errno);
  }
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure("reading", path, errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  auto record = stored_attachment_from_json(json::parse(text, nullptr, false));
  if (!record || record->id != id) {
    return fail(kDecodingFailure, "vnetctl-cni's record " + path + " is not an attachment record",
                text.substr(0, 500));
  }
  return std::optional<StoredAttachment>(std::move(*record));
}

Expected<void> AttachmentStore::make_directories() const {
  if (auto made = make_directory(data_dir_, 0700); !made) return made;
  return make_directory(directory_, 0700);
}

Expected<void> AttachmentStore::write(const StoredAttachment& record, bool sync_dir) const {
  std::string path = path_of(record.id);
  std::string temporary = directory_ + "/." + record.id + kSuffix + "." + std::to_string(getpid()) + kTemporarySuffix;
  UniqueFd fd(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd && errno == ENOENT) {
    // The network's first record: make its directory, durably.
    if (auto made = make_directories(); !made) return made;
    sync_dir = true;
    fd.reset(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  }
  if (!fd) return io_failure("creating", temporary, errno);
  auto done = write_all(fd.get(), stored_attachment_json(record).dump() + "\n", temporary);
  if (done && fsync(fd.get()) < 0) done = io_failure("fsync of", temporary, errno);
  if (done && rename(temporary.c_str(), path.c_str()) < 0) done = io_failure("renaming to", path, errno);
  if (!done) {
    unlink(temporary.c_str());
    return done;
  }
  if (sync_dir) return sync_directory(directory_);
  return {};
}

Expected<void> AttachmentStore::remove(const std::string& id) const {
  std::string path = path_of(id);
  if (unlink(path.c_str()) < 0) {
    if (errno == ENOENT) return {};
    return io_failure("removing", path, errno);
  }
  // Durable: a removed record coming back after a crash would make GC
  // release the same reservation again (harmless, but not what happened).
  return sync_directory(directory_);
}

Expected<std::vector<StoredAttachment>> AttachmentStore::list(std::vector<std::string>* unreadable) const {
  std::vector<StoredAttachment> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(directory_.c_str()), closedir);
  if (!dir) {
    if (errno == ENOENT) return out;  // no record of this network was ever written
    return io_failure("listing", directory_, errno);
  }
  while (const dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (pid_t writer = temporary_writer(name); writer > 0) {
      // Left by a plugin killed while writing: its record is the old one, if any.
      if (kill(writer, 0) < 0 && errno == ESRCH) unlinkat(dirfd(dir.get()), name.c_str(), 0);
      continue;
    }
    if (name[0] == '.' || !ends_with(name, kSuffix)) continue;
    std::string id = name.substr(0, name.size() - std::strlen(kSuffix));
    auto record = read(id);
    if (!record) {
      if (unreadable) unreadable->push_back(record.error().msg);
      continue;
    }
    if (*record && (*record)->key.network == network_) out.push_back(std::move(**record));
  }
  return out;
}

}  // namespace vnet::cni
