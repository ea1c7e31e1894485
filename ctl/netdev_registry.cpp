#include "ctl/netdev_registry.h"

#include <algorithm>

namespace vnet {

NetdevEntry* NetdevRegistry::find(std::string_view id) {
  for (auto& entry : entries_) {
    if (entry->id == id) return entry.get();
  }
  return nullptr;
}

NetdevEntry& NetdevRegistry::add(std::unique_ptr<NetdevEntry> entry) {
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

void NetdevRegistry::connect_peers(NetdevEntry& a, NetdevEntry& b) {
  a.peer = b.id;
  b.peer = a.id;
}

void NetdevRegistry::remove(std::string_view id) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e->id == id; });
  if (it == entries_.end()) return;
  std::unique_ptr<NetdevEntry> gone = std::move(*it);
  entries_.erase(it);
  if (!gone->peer.empty()) {
    if (NetdevEntry* peer = find(gone->peer)) peer->peer.clear();
  }
}

void NetdevRegistry::clear() {
  while (!entries_.empty()) remove(entries_.back()->id);
}

}  // namespace vnet
