#include "ctl/qapi/input_visitor.h"

#include <limits>

namespace vnet::qapi {

namespace {

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

std::string invalid_type(const std::string& full, const char* expected) {
  return "Invalid parameter type for " + in_quotes(full) + ", expected: " + expected;
}

// QERR_INVALID_PARAMETER_VALUE
std::string invalid_value(const std::string& name, const char* expects) {
  return "Parameter " + in_quotes(name) + " expects " + expects;
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& obj) {
  std::vector<std::string> keys;
  for (const auto& item : obj.items()) keys.push_back(item.key());
  return keys;
}

}  // namespace

InputVisitor::InputVisitor(const json& root) : root_(root) {}

bool InputVisitor::fail(std::string desc) {
  error_ = generic_error(std::move(desc));
  return false;
}

// As QEMU's full_name_nth(): walk the stack from the top, dict members
// joined with '.', list elements as "[index]".
std::string InputVisitor::full_name(const char* name) const {
  std::string out;
  std::optional<std::string> current;
  if (name) current = name;
  for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
    if (it->obj->is_object()) {
      out = "." + current.value_or("<anonymous>") + out;
    } else {
      out = "[" + std::to_string(it->index) + "]" + out;
    }
    current = it->name;
  }
  if (current) return *current + out;
  if (!out.empty() && out[0] == '.') return out.substr(1);
  if (out.empty()) return "<anonymous>";
  return out;
}

const InputVisitor::json* InputVisitor::try_get(const char* name, bool consume) {
  if (stack_.empty()) return &root_;
  Frame& top = stack_.back();
  if (top.obj->is_object()) {
    auto it = top.obj->find(name);
    if (it == top.obj->end()) return nullptr;
    if (consume) top.unvisited->remove(name);
    return &*it;
  }
  if (top.next >= top.obj->size()) return nullptr;
  const json* element = &(*top.obj)[top.next];
  if (consume) {
    top.next++;
    top.index++;
  }
  return element;
}

const InputVisitor::json* InputVisitor::get(const char* name) {
  const json* obj = try_get(name, true);
  if (!obj) fail("Parameter " + in_quotes(full_name(name)) + " is missing");
  return obj;
}

bool InputVisitor::start_struct(const char* name) {
  const json* obj = get(name);
  if (!obj) return false;
  if (!obj->is_object()) return fail(invalid_type(full_name(name), "object"));
  Frame frame;
  frame.obj = obj;
  if (name) frame.name = name;
  frame.unvisited = std::make_unique<GHashStringSet>();
  for (const auto& key : qdict_order(keys_of(*obj))) frame.unvisited->insert(key);
  stack_.push_back(std::move(frame));
  return true;
}

bool InputVisitor::check_struct() {
  auto left = stack_.back().unvisited->iteration_order();
  if (left.empty()) return true;
  return fail("Parameter " + in_quotes(full_name(left.front().c_str())) + " is unexpected");
}

void InputVisitor::end_struct() { stack_.pop_back(); }

bool InputVisitor::start_list(const char* name) {
  const json* obj = get(name);
  if (!obj) return false;
  if (!obj->is_array()) return fail(invalid_type(full_name(name), "array"));
  Frame frame;
  frame.obj = obj;
  if (name) frame.name = name;
  stack_.push_back(std::move(frame));
  return true;
}

bool InputVisitor::next_list() { return stack_.back().next < stack_.back().obj->size(); }

void InputVisitor::end_list() { stack_.pop_back(); }

bool InputVisitor::optional(const char* name) { return try_get(name, false) != nullptr; }

bool InputVisitor::type_str(const char* name, std::string& out) {
  const json* obj = get(name);
  if (!obj) return false;
  if (!obj->is_string()) return fail(invalid_type(full_name(name), "string"));
  out = obj->get<std::string>();
  return true;
}

bool InputVisitor::type_bool(const char* name, bool& out) {
  const json* obj = get(name);
  if (!obj) return false;
  if (!obj->is_boolean()) return fail(invalid_type(full_name(name), "boolean"));
  out = obj->get<bool>();
  return true;
}

bool InputVisitor::type_number(const char* name, double& out) {
  const json* obj = get(name);
  if (!obj) return false;
  if (!obj->is_number()) return fail(invalid_type(full_name(name), "number"));
  out = obj->get<double>();
  return true;
}

bool InputVisitor::type_any(const char* name, json& out) {
  const json* obj = get(name);
  if (!obj) return false;
  out = *obj;
  return true;
}

// QNum holds an int64, a uint64 or a double; qnum_get_try_int() accepts an
// int64 or a uint64 that fits.
bool InputVisitor::type_int64(const char* name, int64_t& out) {
  const json* obj = get(name);
  if (!obj) return false;
  if (obj->is_number_integer() && !obj->is_number_unsigned()) {
    out = obj->get<int64_t>();
    return true;
  }
  if (obj->is_number_unsigned() && obj->get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max())) {
    out = static_cast<int64_t>(obj->get<uint64_t>());
    return true;
  }
  return fail(invalid_type(full_name(name), "integer"));
}

// QEMU accepts negative numbers for uint64 "for backward compatibility",
// wrapping them; anything else that is not an integer "expects uint64".
bool InputVisitor::type_uint64(const char* name, uint64_t& out) {
  const json* obj = get(name);
  if (!obj) return false;
  if (obj->is_number_unsigned()) {
    out = obj->get<uint64_t>();
    return true;
  }
  if (obj->is_number_integer()) {
    out = static_cast<uint64_t>(obj->get<int64_t>());
    return true;
  }
  return fail(invalid_value(full_name(name), "uint64"));
}

// visit_type_intN()/uintN() name the member without its path.
template <typename T>
bool InputVisitor::type_signed_in_range(const char* name, T& out, const char* type_name) {
  int64_t value = 0;
  if (!type_int64(name, value)) return false;
  if (value < std::numeric_limits<T>::min() || value > std::numeric_limits<T>::max()) {
    return fail(invalid_value(name ? name : "null", type_name));
  }
  out = static_cast<T>(value);
  return true;
}

template <typename T>
bool InputVisitor::type_unsigned_in_range(const char* name, T& out, const char* type_name) {
  uint64_t value = 0;
  if (!type_uint64(name, value)) return false;
  if (value > std::numeric_limits<T>::max()) return fail(invalid_value(name ? name : "null", type_name));
  out = static_cast<T>(value);
  return true;
}

bool InputVisitor::type_int8(const char* name, int8_t& out) { return type_signed_in_range(name, out, "int8_t"); }
bool InputVisitor::type_int16(const char* name, int16_t& out) { return type_signed_in_range(name, out, "int16_t"); }
bool InputVisitor::type_int32(const char* name, int32_t& out) { return type_signed_in_range(name, out, "int32_t"); }
bool InputVisitor::type_uint8(const char* name, uint8_t& out) { return type_unsigned_in_range(name, out, "uint8_t"); }
bool InputVisitor::type_uint16(const char* name, uint16_t& out) {
  return type_unsigned_in_range(name, out, "uint16_t");
}
bool InputVisitor::type_uint32(const char* name, uint32_t& out) {
  return type_unsigned_in_range(name, out, "uint32_t");
}

// In QMP (not the command line) a size is a plain uint64: QEMU refuses "1M".
bool InputVisitor::type_size(const char* name, uint64_t& out) { return type_uint64(name, out); }

bool InputVisitor::type_enum(const char* name, int& index, std::span<const std::string_view> names) {
  std::string value;
  if (!type_str(name, value)) return false;
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i] == value) {
      index = static_cast<int>(i);
      return true;
    }
  }
  return fail("Parameter " + in_quotes(name ? name : "null") + " does not accept value " + in_quotes(value));
}

}  // namespace vnet::qapi
