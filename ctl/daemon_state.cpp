#include "ctl/daemon_state.h"

#include "ctl/qapi/input_visitor.h"
#include "kernel_ifaces/log.h"
#include "qapi_encode.h"
#include "qapi_visit.h"

namespace vnet {

using json = nlohmann::ordered_json;

namespace {

// A deleted netdev's device that vnetd made and that its teardown removes
// in the background: until that is done, a restart must remove it.
std::optional<state::Teardown> device_to_tear_down(const std::string& record_text) {
  json record = json::parse(record_text, nullptr, false);
  if (!record.is_object() || !record.contains("details")) return std::nullopt;
  const json& details = record["details"];
  if (!details.is_object() || details.value("created", false) != true) return std::nullopt;
  // In another namespace: its ifindex and name mean nothing in vnetd's (the
  // tap goes with its namespace, or stays there persistent).
  if (details.contains("netns")) return std::nullopt;
  if (!details.value("ifname", json()).is_string() || !details.value("ifindex", json()).is_number_integer()) {
    return std::nullopt;
  }
  return state::Teardown{details["ifname"].get<std::string>(), details["ifindex"].get<int>()};
}

}  // namespace

json netdev_record(const NetdevEntry& entry) {
  json record;
  record["id"] = entry.id;
  json options;
  qapi::to_json(options, entry.options);
  record["netdev"] = std::move(options);
  record["link-up"] = entry.link_up;
  if (!entry.peer.empty()) record["peer"] = entry.peer;
  record["details"] = details_json(*entry.backend);
  return record;
}

Result<std::optional<json>> DaemonState::load() {
  auto contents = journal_.load();
  if (!contents) return contents.take_error();
  if (!*contents) return std::optional<json>();
  teardowns_ = std::move((*contents)->teardowns);
  return std::optional<json>(loaded_state(**contents));
}

json loaded_state(state::Contents& contents) {
  json out = json::object();
  out["netdevs"] = json::array();
  for (auto& record : contents.records) out["netdevs"].push_back(std::move(record));
  for (auto& [name, value] : contents.sections) out[name] = std::move(value);
  return out;
}

void DaemonState::changed(const std::string& id) {
  mark(id);
  if (NetdevEntry* entry = registry_.find(id); entry && !entry->peer.empty()) mark(entry->peer);
  schedule_commit();
}

void DaemonState::stage_dirty() {
  for (const auto& id : dirty_) stage_netdev(id);
  dirty_.clear();
  dirty_set_.clear();
}

void DaemonState::sections_changed() {
  sections_dirty_ = true;
  schedule_commit();
}

void DaemonState::after_commit(std::function<void()> fn) {
  after_commit_.push_back(std::move(fn));
  schedule_commit();
}

void DaemonState::when_committed(std::function<void()> fn) {
  when_committed_.push_back(std::move(fn));
  schedule_commit();
}

DaemonState::DaemonState(std::string dir, NetdevRegistry& registry, EventLoop& loop, state::SyncPolicy sync)
    : journal_(std::move(dir), sync), registry_(registry), loop_(loop) {
  if (sync != state::SyncPolicy::kBackground) return;
  flusher_.emplace();
  // Made now rather than at the first commit: the daemon's fds are counted
  // once it serves (the fd-leak tests' baseline).
  if (auto timer = LoopTimer::create(loop_, [this] { flush_journal(); })) {
    flush_timer_ = std::move(*timer);
  } else {
    log::warning("state: " + timer.error().message);  // each commit is then handed over at once
  }
}

DaemonState::~DaemonState() {
  if (flusher_) flush_journal();
}

void DaemonState::schedule_flush() {
  if (!flusher_ || !journal_.unsynced()) return;
  if (!flush_timer_) {
    flush_journal();  // no timer: at once, late being worse than often
  } else if (!flush_timer_->armed()) {
    flush_timer_->arm_ms(kFlushIntervalMs);
  }
}

void DaemonState::flush_journal() { flusher_->flush(journal_.take_unsynced(), journal_.journal_file()); }

// Work first (a tap made persistent), then the replies that confirm it.
void DaemonState::run_after_commit() {
  auto work = std::move(after_commit_);
  after_commit_.clear();
  for (auto& fn : work) fn();
  auto releases = std::move(when_committed_);
  when_committed_.clear();
  for (auto& fn : releases) fn();
}

void DaemonState::schedule_commit() {
  if (commit_scheduled_) return;
  commit_scheduled_ = true;
  loop_.defer([this] {
    commit_scheduled_ = false;
    if (auto committed = commit_now(); !committed) log::error("state: " + committed.error().message);
  });
}

void DaemonState::stage_netdev(const std::string& id) {
  if (const NetdevEntry* entry = registry_.find(id)) {
    // Names that are not UTF-8 are refused where they come in; should one get
    // through, it is written replaced rather than abort the daemon.
    std::string text = netdev_record(*entry).dump(-1, ' ', false, json::error_handler_t::replace);
    if (const std::string* saved = journal_.record(id); !saved || *saved != text) journal_.put(id, std::move(text));
  } else if (const std::string* saved = journal_.record(id)) {
    journal_.remove(id, device_to_tear_down(*saved));
  }
}

void DaemonState::stage_finished_teardowns() {
  if (!teardown_) return;
  for (int ifindex : teardown_->take_finished()) journal_.teardown_done(ifindex);
}

void DaemonState::stage_sections() {
  json timers = json::array();
  if (announcer_) {
    for (const auto& timer : announcer_->snapshot()) {
      json params;
      qapi::to_json(params, timer.params);
      timers.push_back({{"params", params}, {"rounds-left", timer.rounds_left}, {"due-ms", timer.due_ms}});
    }
  }
  journal_.set_section("announce-timers", timers.dump(-1, ' ', false, json::error_handler_t::replace));
  json attachments = json::array();
  if (vmm_) {
    for (const auto& spec : vmm_->saved()) attachments.push_back(vmm::spec_json(spec));
  }
  journal_.set_section("vmm-attachments", attachments.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<void> DaemonState::commit_now() {
  stage_dirty();
  if (sections_dirty_) stage_sections();
  sections_dirty_ = false;
  // Links torn down since the last commit leave the state with it.
  if (journal_.staged()) stage_finished_teardowns();
  Result<void> committed = journal_.commit();
  // What waits for durability runs even when the commit failed (it is
  // logged): replies must not hang.
  run_after_commit();
  schedule_flush();
  return committed;
}

Result<void> DaemonState::save_now() {
  // Changes made since the last commit first (deletions among them), then
  // every netdev in registry order, which new records take.
  stage_dirty();
  for (const auto& entry : registry_.all()) stage_netdev(entry->id);
  stage_sections();
  sections_dirty_ = false;
  stage_finished_teardowns();
  Result<void> compacted = journal_.compact();
  run_after_commit();
  schedule_flush();  // the new journal's zeros
  return compacted;
}

int64_t integer_member(const json& object, const char* key, int64_t fallback) {
  if (!object.contains(key)) return fallback;
  const json& value = object[key];
  if (!value.is_number_integer()) {
    const char* type = value.is_number_float() ? "a number with a fraction or exponent" : value.type_name();
    throw json::type_error::create(302, std::string("'") + key + "' must be an integer, not " + type, &value);
  }
  return value.get<int64_t>();
}

std::vector<Announcer::Snapshot> announce_timers(const json& state) {
  std::vector<Announcer::Snapshot> out;
  if (!state.contains("announce-timers") || !state["announce-timers"].is_array()) return out;
  for (const auto& saved : state["announce-timers"]) {
    if (!saved.is_object() || !saved.contains("params")) continue;
    auto params = qapi::decode_struct<qapi::AnnounceParameters>(saved["params"],
                                                                 qapi::visit_type_AnnounceParameters_members);
    if (!params) continue;
    Announcer::Snapshot timer;
    timer.params = std::move(params.value());
    timer.rounds_left = integer_member(saved, "rounds-left", 0);
    timer.due_ms = integer_member(saved, "due-ms", 0);
    out.push_back(std::move(timer));
  }
  return out;
}

std::vector<vmm::AttachmentSpec> vmm_attachments(const json& state) {
  std::vector<vmm::AttachmentSpec> out;
  if (!state.contains("vmm-attachments") || !state["vmm-attachments"].is_array()) return out;
  for (const auto& saved : state["vmm-attachments"]) {
    if (auto spec = vmm::spec_from_json(saved)) {
      out.push_back(std::move(*spec));
    } else {
      log::error("state: a VMM attachment record does not decode, skipped: " + saved.dump());
    }
  }
  return out;
}

}  // namespace vnet
