#include "ctl/qmp/qemu_json_reader.h"

#include <set>
#include <vector>

namespace vnet::qmp {

namespace {

using json = nlohmann::ordered_json;

// Rewrites QEMU's JSON extensions into standard JSON: 'abc' -> "abc" (with
// inner " escaped), and \' -> ' in either kind of string.
std::string to_standard_json(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char quote = 0;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (!quote) {
      if (c == '"' || c == '\'') {
        quote = c;
        out += '"';
      } else {
        out += c;
      }
      continue;
    }
    if (c == '\\' && i + 1 < text.size()) {
      char next = text[++i];
      if (next == '\'') out += '\'';
      else (out += '\\') += next;
    } else if (c == quote) {
      out += '"';
      quote = 0;
    } else if (c == '"') {
      out += "\\\"";  // only reachable inside a single-quoted string
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<json> parse_qemu_json(const std::string& text, std::string& error) {
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  json::parser_callback_t watch_keys = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second) duplicate = true;
        break;
      default: break;
    }
    return true;
  };
  json value = json::parse(to_standard_json(text), watch_keys, false);
  if (duplicate) {
    error = "JSON parse error, duplicate key";
    return std::nullopt;
  }
  if (value.is_discarded()) {
    error = "JSON parse error, invalid JSON text";
    return std::nullopt;
  }
  return value;
}

}  // namespace vnet::qmp
