// QmpError and QmpResult<T>: what a command answers, a value or an error of
// one of QEMU's error classes (qapi/error.json's QapiErrorClass).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

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

template <typename T>
class [[nodiscard]] QmpResult {
 public:
  QmpResult(T value) : v_(std::move(value)) {}
  QmpResult(QmpError error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const QmpError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, QmpError> v_;
};

}  // namespace vnet
