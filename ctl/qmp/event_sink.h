// EventSink - where commands and backends raise QMP events; the server
// stamps them and sends them to every negotiated client.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "qapi_encode.h"

namespace vnet::qmp {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(std::string_view name, nlohmann::ordered_json data) = 0;
};

// Emits an event whose data is one of the schema's event structs.
template <typename Data>
void emit_event(EventSink& sink, std::string_view name, const Data& data) {
  sink.emit(name, nlohmann::ordered_json(data));
}

}  // namespace vnet::qmp
