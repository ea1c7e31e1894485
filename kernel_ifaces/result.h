// Error and Result<T>: a value or an errno with a message saying what was
// attempted on what ("TUNSETIFF on \"vt0\": Device or resource busy").
// gcc 12 has no std::expected; this is the small subset we need.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace vnet {

struct Error {
  int errnum = 0;       // 0 when the failure is not a system call's
  std::string message;  // full text, errno's description included

  // "what: strerror(errnum)", with errno read by the caller right after the
  // failing call.
  static Error from_errno(int errnum, const std::string& what);
  static Error plain(std::string message) { return Error{0, std::move(message)}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }
  Error&& take_error() { return std::move(error_); }

 private:
  Error error_;
  bool failed_ = false;
};

// Returns Error::from_errno(errno, what) as a failed Result of any type.
inline Error errno_error(const std::string& what) { return Error::from_errno(errno, what); }

}  // namespace vnet
