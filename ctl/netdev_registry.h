// NetdevRegistry - every netdev (and NIC) the daemon holds, in creation
// order, with who is peered with whom. Peering is one-to-one, as in QEMU's
// NetClientState.peer; unlike QEMU we refuse a second peer instead of
// aborting.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/backend.h"
#include "qapi_types.h"

namespace vnet {

struct NetdevEntry {
  std::string id;
  qapi::NetClientDriver type;
  qapi::Netdev options;  // as the client gave them
  std::unique_ptr<Backend> backend;
  std::string peer;  // id of the peer; empty when none
  bool link_up = true;
};

// A backend's details() as the JSON object query-netdevs and the state
// file show (empty when it has none).
nlohmann::ordered_json details_json(const Backend& backend);

class NetdevRegistry {
 public:
  NetdevRegistry() = default;
  NetdevRegistry(const NetdevRegistry&) = delete;
  NetdevRegistry& operator=(const NetdevRegistry&) = delete;
  ~NetdevRegistry() { clear(); }

  NetdevEntry* find(std::string_view id);
  const std::vector<std::unique_ptr<NetdevEntry>>& all() const { return entries_; }

  NetdevEntry& add(std::unique_ptr<NetdevEntry> entry);
  // Removes the entry and clears its peer's side, as qemu_free_net_client().
  // Its backend is destroyed last, after it is out of the registry.
  void remove(std::string_view id);
  // Pairs a and b and tells both backends; on failure nothing is paired.
  Result<void> connect_peers(NetdevEntry& a, NetdevEntry& b);
  // Destroys every backend, newest first (what depends on others goes first).
  void clear();

 private:
  std::vector<std::unique_ptr<NetdevEntry>> entries_;
  // By id, so that a lookup costs the same with 10 netdevs or 10,000.
  std::unordered_map<std::string, NetdevEntry*> by_id_;
};

}  // namespace vnet
