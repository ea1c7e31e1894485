// InputVisitor - walks a JSON request the way QEMU's qobject-input-visitor
// (QMP flavour) does, so that every refusal carries QEMU's exact text:
// "Parameter 'id' is missing", "Invalid parameter type for 'up', expected:
// boolean", "Parameter 'queues' expects uint32_t", "Parameter 'x' is
// unexpected" (reported in QEMU's hash-table order), full names such as
// "dnssearch[0].str".
//
// The generated qapi_visit.cpp drives it; nothing else should need to.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/qapi/qemu_dict_order.h"
#include "ctl/qapi/qmp_error.h"

namespace vnet::qapi {

class InputVisitor {
 public:
  using json = nlohmann::ordered_json;

  explicit InputVisitor(const json& root);

  bool start_struct(const char* name);
  bool check_struct();  // refuses members nobody visited
  void end_struct();

  bool start_list(const char* name);
  bool next_list();  // true while elements remain
  void end_list();

  bool optional(const char* name);  // is the member present?

  bool type_str(const char* name, std::string& out);
  bool type_bool(const char* name, bool& out);
  bool type_number(const char* name, double& out);
  bool type_any(const char* name, json& out);
  bool type_int64(const char* name, int64_t& out);
  bool type_int8(const char* name, int8_t& out);
  bool type_int16(const char* name, int16_t& out);
  bool type_int32(const char* name, int32_t& out);
  bool type_uint64(const char* name, uint64_t& out);
  bool type_uint8(const char* name, uint8_t& out);
  bool type_uint16(const char* name, uint16_t& out);
  bool type_uint32(const char* name, uint32_t& out);
  bool type_size(const char* name, uint64_t& out);
  bool type_enum(const char* name, int& index, std::span<const std::string_view> names);

  QmpError take_error() { return std::move(error_); }

 private:
  struct Frame {
    const json* obj = nullptr;
    std::optional<std::string> name;
    int64_t index = -1;  // list: the element being visited
    size_t next = 0;     // list: the element to hand out next
    std::unique_ptr<GHashStringSet> unvisited;  // dict: members not yet visited
  };

  const json* try_get(const char* name, bool consume);
  const json* get(const char* name);
  std::string full_name(const char* name) const;
  bool fail(std::string desc);
  template <typename T>
  bool type_signed_in_range(const char* name, T& out, const char* type_name);
  template <typename T>
  bool type_unsigned_in_range(const char* name, T& out, const char* type_name);

  const json& root_;
  std::vector<Frame> stack_;
  QmpError error_;
};

// Decodes a JSON object into T as a command's arguments are decoded (the
// generated visit_type_T_members, then no member left unvisited); used where
// JSON from elsewhere (the state file, --config) must pass the same checks.
template <typename T, typename VisitMembers>
QmpResult<T> decode_struct(const nlohmann::ordered_json& value, VisitMembers visit_members) {
  InputVisitor v(value);
  T out{};
  // A value that is not an object starts no struct: there is none to end.
  if (!v.start_struct(nullptr)) return v.take_error();
  bool ok = visit_members(v, out) && v.check_struct();
  v.end_struct();
  if (!ok) return v.take_error();
  return out;
}

}  // namespace vnet::qapi
