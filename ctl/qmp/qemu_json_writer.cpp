#include "ctl/qmp/qemu_json_writer.h"

#include <charconv>
#include <cstdio>
#include <unordered_map>

#include "ctl/qapi/qemu_dict_order.h"

namespace vnet::qmp {

namespace {

void append_u_escape(std::string& out, unsigned unit) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04X", unit);
  out += buf;
}

// Decodes one UTF-8 sequence at s[i]; invalid bytes become U+FFFD.
unsigned next_code_point(const std::string& s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = byte(i++);
  if (c < 0x80) return c;
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (extra < 0 || i + extra > s.size()) return 0xFFFD;
  unsigned cp = c & (0x3F >> extra);
  for (int k = 0; k < extra; k++) {
    if ((byte(i) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (byte(i++) & 0x3F);
  }
  return cp;
}

// As QEMU's to_json() for strings: control characters and everything
// beyond ASCII as \uXXXX (upper-case hex, surrogate pairs above U+FFFF).
void write_string(const std::string& s, std::string& out) {
  auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; };
  out += '"';
  for (size_t i = 0; i < s.size();) {
    // Runs of printable ASCII, most of any reply, are copied as they are.
    size_t run = i;
    while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) run++;
    if (run > i) {
      out.append(s, i, run - i);
      i = run;
      continue;
    }
    unsigned cp = next_code_point(s, i);
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cp >= 0x10000) {
          cp -= 0x10000;
          append_u_escape(out, 0xD800 | (cp >> 10));
          append_u_escape(out, 0xDC00 | (cp & 0x3FF));
        } else if (cp < 0x20 || cp >= 0x7F) {
          append_u_escape(out, cp);
        } else {
          out += static_cast<char>(cp);
        }
    }
  }
  out += '"';
}

// The members' positions in QDict order. Replies repeat a few shapes (one
// per struct) thousands of times, so orders are remembered by key list.
const std::vector<size_t>& member_order(const std::vector<const std::string*>& keys) {
  static thread_local std::unordered_map<std::string, std::vector<size_t>> cache;
  std::string signature;
  for (const auto* key : keys) {
    signature += *key;
    signature += '\0';
  }
  if (auto it = cache.find(signature); it != cache.end()) return it->second;
  // Objects with arbitrary keys (a client's own) must not grow it for ever.
  if (cache.size() > 4096) cache.clear();
  std::vector<std::string> names;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < keys.size(); i++) {
    names.push_back(*keys[i]);
    position[*keys[i]] = i;
  }
  std::vector<size_t> order;
  for (const auto& key : qapi::qdict_order(names)) order.push_back(position[key]);
  return cache.emplace(std::move(signature), std::move(order)).first->second;
}

void write(const nlohmann::ordered_json& value, std::string& out) {
  if (value.is_object() && value.size() == 1) {  // one member: no order to find
    auto member = value.begin();
    out += '{';
    write_string(member.key(), out);
    out += ": ";
    write(member.value(), out);
    out += '}';
  } else if (value.is_object()) {
    std::vector<const std::string*> keys;
    std::vector<const nlohmann::ordered_json*> members;
    keys.reserve(value.size());
    members.reserve(value.size());
    for (const auto& [key, member] : value.items()) {
      keys.push_back(&key);
      members.push_back(&member);
    }
    out += '{';
    bool first = true;
    for (size_t index : member_order(keys)) {
      if (!first) out += ", ";
      first = false;
      write_string(*keys[index], out);
      out += ": ";
      write(*members[index], out);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& element : value) {
      if (!first) out += ", ";
      first = false;
      write(element, out);
    }
    out += ']';
  } else if (value.is_string()) {
    write_string(value.get_ref<const std::string&>(), out);
  } else if (value.is_number_integer() || value.is_number_unsigned()) {
    char buf[24];
    auto [end, ec] = value.is_number_unsigned() ? std::to_chars(buf, buf + sizeof buf, value.get<uint64_t>())
                                                 : std::to_chars(buf, buf + sizeof buf, value.get<int64_t>());
    out.append(buf, end);
  } else if (value.is_binary()) {
    // JSON text already written by to_qemu_json() (a large reply's parts,
    // rendered one at a time): spliced in as it is.
    const auto& text = value.get_binary();
    out.append(reinterpret_cast<const char*>(text.data()), text.size());
  } else if (value.is_boolean()) {
    out += value.get<bool>() ? "true" : "false";
  } else if (value.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", value.get<double>());  // qnum_to_string()
    out += buf;
  } else {
    out += value.dump();
  }
}

}  // namespace

std::string to_qemu_json(const nlohmann::ordered_json& value) {
  std::string out;
  write(value, out);
  return out;
}

nlohmann::ordered_json prerendered_json(const std::string& text) {
  return nlohmann::ordered_json::binary(std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace vnet::qmp
