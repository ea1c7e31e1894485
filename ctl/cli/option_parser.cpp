#include "ctl/cli/option_parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "kernel_ifaces/utf8.h"

namespace vnet::qapi {
extern const char kTypeTable[];
}

namespace vnet::cli {

using json = nlohmann::ordered_json;

namespace {

const json& table() {
  static const json parsed = json::parse(qapi::kTypeTable);
  return parsed;
}

// QMP carries text: a request with other bytes could not even be written.
Result<void> check_text(const std::string& key, const std::string& text) {
  if (valid_utf8(text)) return {};
  return Error{EINVAL, "option '" + key + "': not valid UTF-8 (QMP carries text)"};
}

Error bad(const std::string& key, const std::string& value, const std::string& expected) {
  return Error{EINVAL, "option " + key + "=" + value + ": expected " + expected};
}

bool is_signed(const std::string& type) { return type == "int" || type.rfind("int", 0) == 0; }
bool is_integer(const std::string& type) { return type == "int" || type.find("int") != std::string::npos; }

// The members a value of this type may have (a union: base + its branch).
json members_of(const std::string& type, const std::string& tag_value) {
  const json& types = table()["types"];
  if (!types.contains(type)) return json::array();
  const json& t = types[type];
  json members = t.value("members", json::array());
  if (t["kind"] == "union" && t["variants"].contains(tag_value)) {
    for (const auto& m : types[t["variants"][tag_value].get<std::string>()]["members"]) members.push_back(m);
  }
  return members;
}

Result<json> scalar(const std::string& key, const std::string& value, const std::string& type) {
  if (type == "str" || type == "any") return json(value);
  if (type == "bool") {
    auto b = parse_bool(key, value);
    if (!b) return b.take_error();
    return json(*b);
  }
  if (type == "size") {
    auto n = parse_size(key, value);
    if (!n) return n.take_error();
    return json(*n);
  }
  if (is_integer(type)) {
    const char* text = value.c_str();
    char* end = nullptr;
    errno = 0;
    if (is_signed(type)) {
      long long n = std::strtoll(text, &end, 0);
      if (value.empty() || *end || errno) return bad(key, value, "an integer");
      return json(static_cast<int64_t>(n));
    }
    if (value.empty() || value[0] == '-') return bad(key, value, "a non-negative integer");
    unsigned long long n = std::strtoull(text, &end, 0);
    if (*end || errno) return bad(key, value, "a non-negative integer");
    return json(static_cast<uint64_t>(n));
  }
  if (table()["types"].contains(type) && table()["types"][type]["kind"] == "enum") return json(value);
  return bad(key, value, "a value of type " + type);
}

}  // namespace

std::vector<std::string> split_options(const std::string& text) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == ',') {
      if (i + 1 < text.size() && text[i + 1] == ',') {
        out.back() += ',';
        i++;
      } else {
        out.emplace_back();
      }
    } else {
      out.back() += text[i];
    }
  }
  return out;
}

Result<bool> parse_bool(const std::string& key, const std::string& value) {
  if (value == "on" || value == "yes" || value == "true" || value == "y") return true;
  if (value == "off" || value == "no" || value == "false" || value == "n") return false;
  return bad(key, value, "on/off, yes/no or true/false");
}

Result<uint64_t> parse_size(const std::string& key, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  if (value.empty() || value[0] == '-') return bad(key, value, "a size (as 4096, 64K, 1.5M)");
  double number = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || errno) return bad(key, value, "a size (as 4096, 64K, 1.5M)");
  std::string suffix(end);
  static const std::string kSuffixes = "BKMGTPE";
  double unit = 1;
  if (!suffix.empty()) {
    auto at = suffix.size() == 1 ? kSuffixes.find(static_cast<char>(std::toupper(suffix[0]))) : std::string::npos;
    if (at == std::string::npos) return bad(key, value, "a size suffix of B, K, M, G, T, P or E");
    unit = std::pow(1024.0, static_cast<double>(at));
  }
  bool fraction = std::floor(number) != number;
  if (fraction && unit == 1) return bad(key, value, "a whole number of bytes");
  double bytes = number * unit;
  if (bytes >= 18446744073709551616.0) return bad(key, value, "a size below 16 EiB");
  return static_cast<uint64_t>(bytes);
}

Result<json> parse_arguments(const KeyValues& pairs, const std::string& type, const std::string& tag_value) {
  json members = members_of(type, tag_value);
  json out = json::object();
  for (const auto& [key, value] : pairs) {
    if (auto text = check_text(key, key); !text) return text.take_error();
    if (auto text = check_text(key, value); !text) return text.take_error();
    const json* member = nullptr;
    for (const auto& m : members) {
      if (m["name"] == key) member = &m;
    }
    // Unknown keys go as strings: the daemon refuses them in QEMU's words.
    if (!member) {
      out[key] = value;
      continue;
    }
    const json& member_type = (*member)["type"];
    if (member_type.is_array()) {
      std::string element = member_type[0].get<std::string>();
      if (!out.contains(key)) out[key] = json::array();
      if (element == "String") {
        out[key].push_back({{"str", value}});
      } else {
        for (const auto& part : split_options(value)) {
          auto converted = scalar(key, part, element);
          if (!converted) return converted.take_error();
          out[key].push_back(*converted);
        }
      }
      continue;
    }
    auto converted = scalar(key, value, member_type.get<std::string>());
    if (!converted) return converted.take_error();
    out[key] = *converted;
  }
  return out;
}

std::vector<std::string> netdev_types() {
  std::vector<std::string> out;
  const json& netdev = table()["types"]["Netdev"];
  for (const auto& [name, branch] : netdev["variants"].items()) out.push_back(name);
  return out;
}

std::vector<std::string> netdev_keys(const std::string& type) {
  std::vector<std::string> out;
  for (const auto& member : members_of("Netdev", type)) out.push_back(member["name"].get<std::string>());
  return out;
}

Result<json> parse_netdev(const std::string& text) {
  KeyValues pairs;
  std::string type;
  auto parts = split_options(text);
  for (size_t i = 0; i < parts.size(); i++) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos) {
      if (i == 0 && !parts[i].empty()) {
        type = parts[i];
        continue;
      }
      return Error{EINVAL, "option '" + parts[i] + "': expected key=value"};
    }
    std::string key = parts[i].substr(0, eq), value = parts[i].substr(eq + 1);
    if (key == "type") type = value;
    else pairs.emplace_back(key, value);
  }
  if (type.empty()) return Error{EINVAL, "no netdev type given (as tap,id=t0)"};
  if (auto text = check_text("type", type); !text) return text.take_error();
  auto args = parse_arguments(pairs, "Netdev", type);
  if (!args) return args.take_error();
  json out = {{"type", type}};
  for (auto& [key, value] : args->items()) out[key] = value;
  return out;
}

std::string command_arg_type(const std::string& command) {
  const json& commands = table()["commands"];
  if (!commands.contains(command) || commands[command]["arg-type"].is_null()) return "";
  return commands[command]["arg-type"].get<std::string>();
}

}  // namespace vnet::cli
