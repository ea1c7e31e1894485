// Error and Result<T>: a value or an errno with a message saying what was
// attempted on what ("TUNSETIFF on \"vt0\": Device or resource busy").
#pragma once

#include <tl/expected.hpp>

#include <cerrno>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace vnet {

struct Error {
  int errnum = 0;       // 0 when the failure is not a system call's
  std::string message;  // full text, errno's description included

  // "what: strerror(errnum)", with errno read by the caller right after the
  // failing call.
  static Error from_errno(int errnum, const std::string& what);
  static Error plain(std::string message) { return Error{0, std::move(message)}; }
};

// tl::expected<T, Error> (Debian's libexpected-dev; gcc 12 has no
// std::expected), made from an Error as from a value, as the kernel
// wrappers return them: `return Error{...}` and `return value`.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
  using Base = tl::expected<T, Error>;

 public:
  using Base::Base;
  // Success for Result<void> (`return {};`).
  template <typename U = T, std::enable_if_t<std::is_void_v<U>, int> = 0>
  Result() {}
  Result(Error error) : Base(tl::unexpect, std::move(error)) {}

  bool ok() const { return this->has_value(); }
  Error&& take_error() { return std::move(this->error()); }
  // The error with what the caller was doing in front, to pass it up:
  // take_error("tap \"vt0\"") -> "tap \"vt0\": RTM_NEWLINK on ifindex 42: ...".
  Error take_error(std::string_view doing) {
    Error error = std::move(this->error());
    error.message.insert(0, std::string(doing) + ": ");
    return error;
  }
};

// Returns Error::from_errno(errno, what) as a failed Result of any type.
inline Error errno_error(const std::string& what) { return Error::from_errno(errno, what); }

}  // namespace vnet
