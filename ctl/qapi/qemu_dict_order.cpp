#include "ctl/qapi/qemu_dict_order.h"

#include <algorithm>
#include <cstring>

namespace vnet::qapi {

namespace {

// QEMU's qobject/qdict.c bucket hash (from Samba's tdb).
unsigned tdb_hash(const std::string& name) {
  unsigned value = 0x238F13AF * static_cast<unsigned>(name.size());
  for (size_t i = 0; i < name.size(); i++) {
    value = value + (static_cast<unsigned>(static_cast<unsigned char>(name[i])) << (i * 5 % 24));
  }
  return 1103515243 * value + 12345;
}

constexpr unsigned kQdictBuckets = 512;  // QDICT_BUCKET_MAX

// GLib's g_str_hash: djb2 over signed chars.
unsigned g_str_hash(const std::string& key) {
  unsigned h = 5381;
  for (char c : key) h = (h << 5) + h + static_cast<unsigned>(static_cast<signed char>(c));
  return h;
}

constexpr int kMinShift = 3;  // HASH_TABLE_MIN_SHIFT
constexpr unsigned kPrimeMod[] = {1,      2,      3,      7,       13,      31,      61,      127,
                                  251,    509,    1021,   2039,    4093,    8191,    16381,   32749,
                                  65521,  131071, 262139, 524287,  1048573, 2097143, 4194301, 8388593};
constexpr unsigned kUnused = 0;
constexpr unsigned kTombstone = 1;

bool is_real(unsigned h) { return h >= 2; }

int closest_shift(int n) {
  int i = 0;
  for (; n; i++) n >>= 1;
  return i;
}

}  // namespace

std::vector<std::string> qdict_order(const std::vector<std::string>& keys) {
  // Within a bucket the newest entry comes first (QLIST_INSERT_HEAD).
  std::vector<std::pair<unsigned, size_t>> order;
  for (size_t i = 0; i < keys.size(); i++) order.emplace_back(tdb_hash(keys[i]) % kQdictBuckets, i);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  std::vector<std::string> out;
  for (const auto& [bucket, index] : order) out.push_back(keys[index]);
  return out;
}

GHashStringSet::GHashStringSet() { set_shift(kMinShift); }

void GHashStringSet::set_shift(int shift) {
  slots_.assign(size_t{1} << shift, Slot{});
  mod_ = kPrimeMod[shift];
  mask_ = (1u << shift) - 1;
}

unsigned GHashStringSet::index_for(unsigned hash) const { return (hash * 11) % mod_; }

size_t GHashStringSet::lookup(const std::string& key, unsigned hash) const {
  size_t index = index_for(hash);
  size_t first_tombstone = 0;
  bool have_tombstone = false;
  unsigned step = 0;
  while (slots_[index].hash != kUnused) {
    if (slots_[index].hash == hash && slots_[index].key == key) return index;
    if (slots_[index].hash == kTombstone && !have_tombstone) {
      first_tombstone = index;
      have_tombstone = true;
    }
    step++;
    index = (index + step) & mask_;
  }
  return have_tombstone ? first_tombstone : index;
}

void GHashStringSet::insert(const std::string& key) {
  unsigned hash = g_str_hash(key);
  if (!is_real(hash)) hash = 2;
  size_t index = lookup(key, hash);
  unsigned old = slots_[index].hash;
  if (is_real(old)) return;  // already there
  slots_[index] = Slot{hash, key};
  nnodes_++;
  if (old == kUnused) {
    noccupied_++;
    maybe_resize();
  }
}

void GHashStringSet::remove(const std::string& key) {
  unsigned hash = g_str_hash(key);
  if (!is_real(hash)) hash = 2;
  size_t index = lookup(key, hash);
  if (!is_real(slots_[index].hash)) return;
  slots_[index].hash = kTombstone;
  slots_[index].key.clear();
  nnodes_--;
  maybe_resize();
}

void GHashStringSet::maybe_resize() {
  int size = static_cast<int>(slots_.size());
  if ((size > nnodes_ * 4 && size > (1 << kMinShift)) || size <= noccupied_ + noccupied_ / 16) resize();
}

// GLib resizes in place: it walks the old slots in order and re-probes each
// live entry in the new table, evicting (and re-placing) whatever entry sat
// where it lands. The final layout depends on that walk, so we repeat it.
void GHashStringSet::resize() {
  size_t old_size = slots_.size();
  int shift = std::max(closest_shift(static_cast<int>(nnodes_ * 1.333)), kMinShift);
  size_t new_size = size_t{1} << shift;
  std::vector<Slot> table = std::move(slots_);
  table.resize(std::max(old_size, new_size));
  mod_ = kPrimeMod[shift];
  mask_ = static_cast<unsigned>(new_size - 1);
  std::vector<bool> relocated(table.size(), false);

  for (size_t i = 0; i < old_size; i++) {
    if (!is_real(table[i].hash)) {
      table[i].hash = kUnused;
      continue;
    }
    if (relocated[i]) continue;
    Slot moving = std::move(table[i]);
    table[i] = Slot{};
    for (;;) {
      size_t index = index_for(moving.hash);
      unsigned step = 0;
      while (relocated[index]) {
        step++;
        index = (index + step) & mask_;
      }
      relocated[index] = true;
      Slot replaced = std::move(table[index]);
      table[index] = std::move(moving);
      if (!is_real(replaced.hash)) break;
      moving = std::move(replaced);
    }
  }
  table.resize(new_size);
  slots_ = std::move(table);
  noccupied_ = nnodes_;
}

std::vector<std::string> GHashStringSet::iteration_order() const {
  std::vector<std::string> out;
  for (const auto& slot : slots_) {
    if (is_real(slot.hash)) out.push_back(slot.key);
  }
  return out;
}

}  // namespace vnet::qapi
