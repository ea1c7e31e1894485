#include "ctl/qmp/qemu_json_reader.h"

#include <string>
#include <unordered_set>
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

namespace {

// Builds the tree from the parser's events. nlohmann's own builder inserts
// each member with a search of the members before it (ordered_map), which is
// quadratic: 32k members took 0.75 s. Here members are appended, and
// duplicates found with a hash set per open object.
class TreeBuilder : public nlohmann::json_sax<json> {
 public:
  json root;
  bool duplicate = false;

  bool null() override { return place(json(nullptr)); }
  bool boolean(bool value) override { return place(json(value)); }
  bool number_integer(number_integer_t value) override { return place(json(value)); }
  bool number_unsigned(number_unsigned_t value) override { return place(json(value)); }
  bool number_float(number_float_t value, const string_t&) override { return place(json(value)); }
  bool string(string_t& value) override { return place(json(std::move(value))); }
  bool binary(binary_t& value) override { return place(json::binary(std::move(value))); }
  bool start_object(std::size_t) override {
    open_.push_back(place_container(json::object()));
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    if (!keys_.back().insert(name).second) {
      duplicate = true;
      return false;  // QEMU stops at a duplicate too
    }
    pending_key_ = std::move(name);
    return true;
  }
  bool end_object() override {
    open_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    open_.push_back(place_container(json::array()));
    keys_.emplace_back();
    return true;
  }
  bool end_array() override { return end_object(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool place(json value) {
    place_container(std::move(value));
    return true;
  }
  // Where a value goes: the root, the open array's end, or the open
  // object's end under the key just read.
  json* place_container(json value) {
    if (open_.empty()) {
      root = std::move(value);
      return &root;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      auto& elements = parent.get_ref<json::array_t&>();
      elements.push_back(std::move(value));
      return &elements.back();
    }
    auto& members = parent.get_ref<json::object_t&>();
    members.json::object_t::Container::emplace_back(std::move(pending_key_), std::move(value));
    return &members.back().second;
  }

  std::vector<json*> open_;  // containers being filled; each lives in the one before it
  std::vector<std::unordered_set<std::string>> keys_;
  std::string pending_key_;
};

}  // namespace

std::optional<json> parse_qemu_json(const std::string& text, std::string& error) {
  TreeBuilder builder;
  bool parsed = json::sax_parse(to_standard_json(text), &builder);
  if (builder.duplicate) {
    error = "JSON parse error, duplicate key";
    return std::nullopt;
  }
  if (!parsed) {
    error = "JSON parse error, invalid JSON text";
    return std::nullopt;
  }
  return std::move(builder.root);
}

}  // namespace vnet::qmp
