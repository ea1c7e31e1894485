#include "ctl/qmp/qemu_json_writer.h"

#include "ctl/qapi/qemu_dict_order.h"

namespace vnet::qmp {

namespace {

void write(const nlohmann::ordered_json& value, std::string& out) {
  if (value.is_object()) {
    std::vector<std::string> keys;
    for (const auto& item : value.items()) keys.push_back(item.key());
    out += '{';
    bool first = true;
    for (const auto& key : qapi::qdict_order(keys)) {
      if (!first) out += ", ";
      first = false;
      out += nlohmann::ordered_json(key).dump(-1, ' ', true);
      out += ": ";
      write(value.at(key), out);
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
  } else {
    out += value.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
  }
}

}  // namespace

std::string to_qemu_json(const nlohmann::ordered_json& value) {
  std::string out;
  write(value, out);
  return out;
}

}  // namespace vnet::qmp
