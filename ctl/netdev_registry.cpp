#include "ctl/netdev_registry.h"

#include <algorithm>
#include <variant>

namespace vnet {

nlohmann::ordered_json details_json(const Backend& backend) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& detail : backend.details()) {
    out[detail.key] = std::visit([](const auto& v) { return nlohmann::ordered_json(v); }, detail.value);
  }
  return out;
}

NetdevEntry* NetdevRegistry::find(std::string_view id) {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : it->second;
}

NetdevEntry& NetdevRegistry::add(std::unique_ptr<NetdevEntry> entry) {
  by_id_[entry->id] = entry.get();
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Result<void> NetdevRegistry::connect_peers(NetdevEntry& a, NetdevEntry& b) {
  if (auto told = a.backend->peer_connected(*b.backend); !told) return told;
  if (auto told = b.backend->peer_connected(*a.backend); !told) {
    a.backend->peer_disconnected(*b.backend);
    return told;
  }
  a.peer = b.id;
  b.peer = a.id;
  return {};
}

void NetdevRegistry::remove(std::string_view id) {
  NetdevEntry* found = find(id);
  if (!found) return;
  // Pointers, compared from the newest: deletes often take what was added last.
  auto it = std::find_if(entries_.rbegin(), entries_.rend(), [&](const auto& e) { return e.get() == found; });
  std::unique_ptr<NetdevEntry> gone = std::move(*it);
  entries_.erase(std::next(it).base());
  by_id_.erase(gone->id);
  if (!gone->peer.empty()) {
    if (NetdevEntry* peer = find(gone->peer)) {
      peer->peer.clear();
      peer->backend->peer_disconnected(*gone->backend);
      gone->backend->peer_disconnected(*peer->backend);
    }
  }
}

void NetdevRegistry::clear() {
  while (!entries_.empty()) remove(entries_.back()->id);
}

}  // namespace vnet
