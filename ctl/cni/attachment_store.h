// attachment_store - the plugin's own record of each attachment, on disk,
// beside vnetd's. vnetd removes a tap's netdev, and its attachment record with
// it, when the tap's namespace goes (docs/tap-and-bridge.md); if the runtime
// then never sends DEL (a node lost, a runtime's cache lost), only this record
// still says which IPAM reservation was that attachment's, so that GC can
// release it. One small JSON file per attachment, DATADIR/NETWORK/ID.json (ID:
// the attachment's netdev id), written before the IPAM's ADD and removed only
// once the IPAM's DEL succeeded:
//
//   {"network": "podnet", "container-id": "abc", "ifname": "eth0",
//    "netns": "/var/run/netns/x", "netdev": "cni-...",
//    "data": {"cniVersion", "args", "ipam": {"type", "config", "result"?}}}
//
// "data" is what vnetd keeps in the tap's attachment record. Files are
// replaced whole (a temporary file, fsync, rename, fsync of the directory),
// so a crash leaves the old record or the new one, never a torn one.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/cni/cni_error.h"
#include "ctl/cni/vnetd_attachments.h"

namespace vnet::cni {

struct StoredAttachment {
  std::string id;  // the netdev id (netdev_id_for(key))
  AttachmentKey key;
  std::string netns;
  nlohmann::ordered_json data = nlohmann::ordered_json::object();
};

// The record's JSON, and back (nullopt when it is not of that shape).
nlohmann::ordered_json stored_attachment_json(const StoredAttachment& record);
std::optional<StoredAttachment> stored_attachment_from_json(const nlohmann::ordered_json& text);

class AttachmentStore {
 public:
  // The records of network under data_dir (DATADIR/NETWORK). Nothing is
  // touched on disk until a record is written.
  AttachmentStore(std::string data_dir, std::string network);

  const std::string& directory() const { return directory_; }
  std::string path_of(const std::string& id) const;

  // The record of netdev id; nullopt when there is none. A file that cannot
  // be read or is not a record is code 5 (I/O), naming it.
  Expected<std::optional<StoredAttachment>> read(const std::string& id) const;
  // Writes the record whole, durably (code 5 on failure). The first record
  // of a network creates DATADIR (mode 0700) and DATADIR/NETWORK.
  // sync_directory false skips the fsync of the directory when the file
  // replaces an earlier record of the same attachment: then either version
  // is a usable record after a crash.
  Expected<void> write(const StoredAttachment& record, bool sync_directory = true) const;
  // Removes the record; no record is not an error.
  Expected<void> remove(const std::string& id) const;
  // Every record of the network. Files that are not records are reported in
  // *unreadable (their paths and why) and skipped; temporary files of
  // writers that no longer run are removed.
  Expected<std::vector<StoredAttachment>> list(std::vector<std::string>* unreadable) const;

 private:
  Expected<void> make_directories() const;

  std::string data_dir_;
  std::string network_;
  std::string directory_;
};

}  // namespace vnet::cni
