#include "ctl/state/state_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernel_ifaces/log.h"

namespace vnet::state {

using json = nlohmann::ordered_json;

namespace {

constexpr char kJournalPrefix[] = "journal-";

// At offset, or appended when offset is negative.
Result<void> write_all(int fd, std::string_view text, const std::string& path, off_t offset = -1) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = offset < 0 ? write(fd, text.data() + done, text.size() - done)
                           : pwrite(fd, text.data() + done, text.size() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing " + path);
    done += static_cast<size_t>(n);
  }
  return {};
}

void sync_dir(const std::string& dir) {
  if (UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); fd) fsync(fd.get());
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return errno_error("opening " + path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

StateJournal::StateJournal(std::string dir, SyncPolicy sync)
    : dir_(std::move(dir)), snapshot_path_(dir_ + "/netdevs.json"), sync_(sync) {}

std::string StateJournal::journal_path(uint64_t generation) const {
  return dir_ + "/" + kJournalPrefix + std::to_string(generation);
}

std::vector<uint64_t> StateJournal::journal_generations() const {
  std::vector<uint64_t> out;
  DIR* dir = opendir(dir_.c_str());
  if (!dir) return out;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind(kJournalPrefix, 0) != 0) continue;
    std::string digits = name.substr(sizeof(kJournalPrefix) - 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back(std::strtoull(digits.c_str(), nullptr, 10));
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> ContentsReader::apply_line(const json& line) {
  if (!line.is_object()) return Error{EINVAL, "not an object"};
  if (line.contains("put")) {
    const json& record = line["put"];
    if (!record.is_object() || !record.contains("id") || !record["id"].is_string()) {
      return Error{EINVAL, "a put without a record id"};
    }
    std::string key = record["id"].get<std::string>();
    if (auto it = index_.find(key); it != index_.end()) {
      out_.records[it->second] = record;
    } else {
      index_[key] = out_.records.size();
      out_.records.push_back(record);
    }
  } else if (line.contains("del")) {
    if (!line["del"].is_string()) return Error{EINVAL, "a del without an id"};
    if (auto it = index_.find(line["del"].get<std::string>()); it != index_.end()) {
      out_.records[it->second] = nullptr;  // compacted out by contents()
      index_.erase(it);
    }
    if (line.contains("teardown")) {
      const json& t = line["teardown"];
      if (!t.is_object() || !t.value("ifname", json()).is_string() || !t.value("ifindex", json()).is_number_integer()) {
        return Error{EINVAL, "a teardown without ifname and ifindex"};
      }
      out_.teardowns.push_back({t["ifname"].get<std::string>(), t["ifindex"].get<int>()});
    }
  } else if (line.contains("section")) {
    if (!line["section"].is_string() || !line.contains("value")) return Error{EINVAL, "a section without a value"};
    out_.sections[line["section"].get<std::string>()] = line["value"];
  } else if (line.contains("torn-down")) {
    if (!line["torn-down"].is_number_integer()) return Error{EINVAL, "torn-down without an ifindex"};
    int ifindex = line["torn-down"].get<int>();
    std::erase_if(out_.teardowns, [&](const Teardown& t) { return t.ifindex == ifindex; });
  } else {
    return Error{EINVAL, "an unknown kind of line"};
  }
  return {};
}

Result<uint64_t> ContentsReader::read_snapshot(const std::string& path, const std::string& text) {
  json snapshot = json::parse(text, nullptr, false);
  if (snapshot.is_discarded() || !snapshot.is_object() || !snapshot.contains("netdevs") ||
      !snapshot["netdevs"].is_array()) {
    return Error{EINVAL, path + ": not a vnetd state file (move it away to start afresh)"};
  }
  json version = snapshot.value("version", json());
  // Version 1 (a whole file per change, no journal) reads as generation 0.
  if (version != json(1) && version != json(StateJournal::kVersion)) {
    return Error{EINVAL, path + ": state version " + version.dump() + ", this vnetd reads versions 1 and " +
                             std::to_string(StateJournal::kVersion)};
  }
  json gen = snapshot.value("generation", json(0));
  if (!gen.is_number_unsigned() && !gen.is_number_integer()) {
    return Error{EINVAL, path + ": generation is not a number"};
  }
  uint64_t generation = gen.get<uint64_t>();
  for (const auto& record : snapshot["netdevs"]) {
    if (auto applied = apply_line(json{{"put", record}}); !applied) {
      return Error{EINVAL, path + ": a netdev record: " + applied.error().message};
    }
  }
  for (const auto& [name, value] : snapshot.items()) {
    if (name != "version" && name != "generation" && name != "netdevs" && name != "teardowns") {
      out_.sections[name] = value;
    }
  }
  if (snapshot.contains("teardowns")) {
    for (const auto& t : snapshot["teardowns"]) {
      if (auto applied = apply_line(json{{"del", ""}, {"teardown", t}}); !applied) {
        return Error{EINVAL, path + ": teardowns: " + applied.error().message};
      }
    }
  }
  return generation;
}

Result<void> ContentsReader::replay_journal(const std::string& path, std::string text, bool last_journal) {
  // The zeros laid down ahead of the appends are not part of it.
  if (size_t end = text.find('\0'); end != std::string::npos) text.resize(end);
  std::istringstream lines(text);
  std::string line;
  size_t number = 0;
  while (std::getline(lines, line)) {
    number++;
    json parsed = json::parse(line, nullptr, false);
    // A crash mid-append tears the last line of the last journal: that
    // change was never confirmed to anyone.
    bool last = last_journal && lines.peek() == std::char_traits<char>::eof();
    if (parsed.is_discarded()) {
      if (last) break;
      return Error{EINVAL, path + ":" + std::to_string(number) + ": not JSON (move the state dir away to start afresh)"};
    }
    if (auto applied = apply_line(parsed); !applied) {
      return Error{EINVAL, path + ":" + std::to_string(number) + ": " + applied.error().message};
    }
  }
  return {};
}

Contents ContentsReader::contents() && {
  std::erase_if(out_.records, [](const json& r) { return r.is_null(); });
  return std::move(out_);
}

Result<std::optional<Contents>> StateJournal::load() {
  ContentsReader reader;
  bool found = false;
  uint64_t generation = 0;
  if (access(snapshot_path_.c_str(), F_OK) == 0) {
    auto text = read_file(snapshot_path_);
    if (!text) return text.take_error();
    auto read = reader.read_snapshot(snapshot_path_, *text);
    if (!read) return read.take_error();
    generation = *read;
    found = true;
  }
  std::vector<uint64_t> journals = journal_generations();
  std::erase_if(journals, [generation](uint64_t g) { return g < generation; });
  for (size_t j = 0; j < journals.size(); j++) {
    std::string path = journal_path(journals[j]);
    auto text = read_file(path);
    if (!text) return text.take_error();
    found = true;
    if (auto replayed = reader.replay_journal(path, std::move(*text), j + 1 == journals.size()); !replayed) {
      return replayed.take_error();
    }
  }
  if (!found) return std::optional<Contents>();
  generation_ = generation;
  return std::optional<Contents>(std::move(reader).contents());
}

void StateJournal::put(const std::string& key, std::string record_text) {
  stage("{\"put\":" + record_text + "}");
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    it->second->text = std::move(record_text);
  } else {
    records_.push_back({key, std::move(record_text)});
    by_key_[key] = std::prev(records_.end());
  }
}

void StateJournal::remove(const std::string& key, std::optional<Teardown> teardown) {
  json line = {{"del", key}};
  if (teardown) {
    line["teardown"] = {{"ifname", teardown->ifname}, {"ifindex", teardown->ifindex}};
    teardowns_[teardown->ifindex] = teardown->ifname;
  }
  stage(line.dump(-1, ' ', false, json::error_handler_t::replace));
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    records_.erase(it->second);
    by_key_.erase(it);
  }
}

void StateJournal::set_section(const std::string& name, std::string value_text) {
  auto it = sections_.find(name);
  if (it != sections_.end() && it->second == value_text) return;
  stage("{\"section\":" + json(name).dump() + ",\"value\":" + value_text + "}");
  sections_[name] = std::move(value_text);
}

void StateJournal::teardown_done(int ifindex) {
  if (teardowns_.erase(ifindex) == 0) return;
  stage("{\"torn-down\":" + std::to_string(ifindex) + "}");
}

// A new, empty journal for the current generation.
Result<void> StateJournal::open_journal() {
  std::string path = journal_path(generation_);
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  // Flushed in the background, appends are better cached: the flush then
  // writes a second's worth of them at once. EINVAL: no O_DIRECT here.
  journal_.reset();
  if (sync_ == SyncPolicy::kEachCommit) journal_ = UniqueFd(open(path.c_str(), flags | O_DIRECT, 0600));
  direct_ = bool(journal_);
  if (!journal_ && (sync_ == SyncPolicy::kBackground || errno == EINVAL)) {
    journal_ = UniqueFd(open(path.c_str(), flags, 0600));
  }
  if (!journal_) return errno_error("creating " + path);
  journal_bytes_ = 0;
  journal_allocated_ = 0;
  unsynced_ = false;
  tail_.clear();
  return preallocate(kPreallocBytes);
}

namespace {

constexpr size_t kBlock = 4096;  // O_DIRECT's alignment (the page size covers every block size here)

struct AlignedBuffer {
  explicit AlignedBuffer(size_t size) : size(size), data(static_cast<char*>(std::aligned_alloc(kBlock, size))) {
    std::memset(data, 0, size);
  }
  ~AlignedBuffer() { std::free(data); }
  size_t size;
  char* data;
};

}  // namespace

Result<void> StateJournal::write_at(const std::string& text, size_t offset) {
  std::string path = journal_path(generation_);
  if (!direct_) return write_all(journal_.get(), text, path, static_cast<off_t>(offset));
  size_t start = offset - offset % kBlock;
  std::string block_bytes = offset == journal_bytes_ ? tail_ : std::string(offset - start, '\0');
  block_bytes += text;
  AlignedBuffer buffer((block_bytes.size() + kBlock - 1) / kBlock * kBlock);
  std::memcpy(buffer.data, block_bytes.data(), block_bytes.size());
  return write_all(journal_.get(), std::string_view(buffer.data, buffer.size), path, static_cast<off_t>(start));
}

Result<void> StateJournal::preallocate(size_t upto) {
  std::string path = journal_path(generation_);
  static const AlignedBuffer zeros(64 << 10);
  upto = (upto + kBlock - 1) / kBlock * kBlock;
  while (journal_allocated_ < upto) {
    size_t n = std::min(zeros.size, upto - journal_allocated_);
    auto written = write_all(journal_.get(), std::string_view(zeros.data, n), path,
                             static_cast<off_t>(journal_allocated_));
    if (!written) return written;
    journal_allocated_ += n;
  }
  // kBackground: the zeros reach the device with the next flush, off the loop.
  if (sync_ == SyncPolicy::kBackground) {
    unsynced_ = true;
    return {};
  }
  if (fdatasync(journal_.get()) < 0) return errno_error("fdatasync " + path);
  return {};
}

Result<void> StateJournal::commit() {
  if (staged_.empty()) return {};
  // Journals are begun by compact(), which writes the snapshot they follow.
  if (!journal_) return compact();
  std::string path = journal_path(generation_);
  if (auto room = reserve(0); !room) return room;  // staged lines stay staged
  std::string lines = std::move(staged_);
  staged_.clear();
  auto written = write_at(lines, journal_bytes_);
  if (written && sync_ == SyncPolicy::kEachCommit && fdatasync(journal_.get()) < 0) {
    written = errno_error("fdatasync " + path);
  }
  if (!written) {
    // Zero what may have been written: nothing may follow a torn line.
    if (!write_at(std::string(lines.size(), '\0'), journal_bytes_)) journal_.reset();
    return written;
  }
  unsynced_ = sync_ == SyncPolicy::kBackground;
  tail_ += lines;
  tail_.erase(0, tail_.size() - (journal_bytes_ + lines.size()) % kBlock);
  journal_bytes_ += lines.size();
  bytes_written_ += lines.size();
  if (journal_bytes_ > kMinCompactBytes && journal_bytes_ > snapshot_bytes_) {
    // The lines are durable; a snapshot that cannot be written now (a full
    // disk) is tried again at the next commit, the journal going on meanwhile.
    if (auto compacted = compact(); !compacted) {
      log::warning("state: " + compacted.error().message + " (the journal goes on)");
    }
  }
  return {};
}

UniqueFd StateJournal::take_unsynced() {
  if (!unsynced_ || !journal_) return UniqueFd();
  unsynced_ = false;
  return UniqueFd(fcntl(journal_.get(), F_DUPFD_CLOEXEC, 0));
}

Result<void> StateJournal::reserve(size_t bytes) {
  if (!journal_) {
    // No journal since a snapshot could not be written: try again.
    if (auto compacted = compact(); !compacted) return compacted;
  }
  size_t needed = journal_bytes_ + staged_.size() + bytes;
  if (needed <= journal_allocated_) return {};
  if (preallocate(needed + kPreallocBytes)) return {};
  return preallocate(needed);  // the room this needs, if not more
}

Result<void> StateJournal::compact() {
  // Whatever is staged is in the in-memory state already: the snapshot has it.
  staged_.clear();
  uint64_t next = generation_ + 1;
  std::string text = "{\"version\":" + std::to_string(kVersion) + ",\"generation\":" + std::to_string(next) +
                     ",\"netdevs\":[";
  bool first = true;
  for (const auto& record : records_) {
    text += first ? "\n" : ",\n";
    text += record.text;
    first = false;
  }
  text += "\n]";
  for (const auto& [name, value] : sections_) text += ",\n" + json(name).dump() + ":" + value;
  json teardowns = json::array();
  for (const auto& [ifindex, ifname] : teardowns_) teardowns.push_back({{"ifname", ifname}, {"ifindex", ifindex}});
  text += ",\n\"teardowns\":" + teardowns.dump() + "\n}\n";

  std::string temporary = snapshot_path_ + ".new";
  UniqueFd fd(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return errno_error("creating " + temporary);
  auto written = write_all(fd.get(), text, temporary);
  if (written && fsync(fd.get()) < 0) written = errno_error("fsync " + temporary);
  if (!written) {
    unlink(temporary.c_str());
    return written;
  }
  fd.reset();
  if (rename(temporary.c_str(), snapshot_path_.c_str()) < 0) {
    unlink(temporary.c_str());
    return errno_error("renaming " + temporary + " to " + snapshot_path_);
  }
  sync_dir(dir_);
  bytes_written_ += text.size();
  snapshot_bytes_ = text.size();
  uint64_t old = generation_;
  generation_ = next;
  journal_.reset();
  for (uint64_t g : journal_generations()) {
    if (g <= old) unlink(journal_path(g).c_str());
  }
  return open_journal();
}

void StateJournal::discard() {
  journal_.reset();
  for (uint64_t g : journal_generations()) unlink(journal_path(g).c_str());
  unlink(snapshot_path_.c_str());
  unlink((snapshot_path_ + ".new").c_str());
}

}  // namespace vnet::state
