// The order in which QEMU walks the members of a JSON object.
//
// QEMU does not report the first unexpected member in the order the client
// wrote them: qmp_dispatch_check_obj() walks a QDict (512 buckets, newest
// entry first in a bucket) and qobject_input_check_struct() walks a GLib
// GHashTable filled from that QDict. To give the same error text for the same
// request, we compute both orders from the key list.
#pragma once

#include <string>
#include <vector>

namespace vnet::qapi {

// Keys as QEMU's qdict_first()/qdict_next() yield them, given the keys in the
// order the JSON text introduced them (duplicates already merged).
std::vector<std::string> qdict_order(const std::vector<std::string>& keys_in_text_order);

// A model of GLib 2.74's GHashTable<string> (g_str_hash, open addressing with
// quadratic probing, tombstones, resizing), enough to know iteration order.
class GHashStringSet {
 public:
  GHashStringSet();
  void insert(const std::string& key);
  void remove(const std::string& key);
  // Keys in g_hash_table_iter_next() order.
  std::vector<std::string> iteration_order() const;

 private:
  struct Slot {
    unsigned hash = 0;  // 0 unused, 1 tombstone, >= 2 a real entry
    std::string key;
  };
  void set_shift(int shift);
  unsigned index_for(unsigned hash) const;
  size_t lookup(const std::string& key, unsigned hash) const;
  void maybe_resize();
  void resize();

  std::vector<Slot> slots_;
  unsigned mod_ = 0;
  unsigned mask_ = 0;
  int nnodes_ = 0;
  int noccupied_ = 0;
};

}  // namespace vnet::qapi
