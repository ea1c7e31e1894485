// QmpError and QmpResult<T>: what a command answers, a value or an error of
// one of QEMU's error classes (qapi/error.json's QapiErrorClass).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace vnet {

enum class ErrorClass { GenericError, CommandNotFound, DeviceNotFound, DeviceNotActive, KVMMissingCap };

std::string_view to_string(ErrorClass cls);

struct QmpError {
  ErrorClass cls = ErrorClass::GenericError;
  std::string desc;
};

inline QmpError generic_error(std::string desc) { return {ErrorClass::GenericError, std::move(desc)}; }

// The reply of a command that returns nothing: {}.
struct Empty {};

// A command's answer: tl::expected<T, QmpError>, made from a QmpError as
// from a value (`return generic_error(...)`, `return value`).
template <typename T>
class [[nodiscard]] QmpResult : public tl::expected<T, QmpError> {
  using Base = tl::expected<T, QmpError>;

 public:
  using Base::Base;
  QmpResult(QmpError error) : Base(tl::unexpect, std::move(error)) {}

  bool ok() const { return this->has_value(); }
};

}  // namespace vnet
