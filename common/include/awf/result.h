// Result<T>: a value or an error message, returned across every boundary of
// awf's libraries (C++20 has no std::expected). Errors are already phrased
// for the user: they name the offending value, so callers only propagate them.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace awf {

struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation that yields nothing but may fail.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace awf

// Inside a function returning Result<T> or Status: evaluates a Result or
// Status and returns its error upward when it failed.
#define AWF_TRY(expr)                          \
  do {                                         \
    if (auto awf_try_ = (expr); !awf_try_) {   \
      return awf_try_.error();                 \
    }                                          \
  } while (0)

// The same for a step that yields a value: declares `var` holding it.
//   AWF_TRY_ASSIGN(auto fd, open_directory(path));
#define AWF_TRY_CONCAT_(a, b) a##b
#define AWF_TRY_NAME_(line) AWF_TRY_CONCAT_(awf_try_result_, line)
#define AWF_TRY_ASSIGN(var, expr) AWF_TRY_ASSIGN_IMPL_(var, expr, AWF_TRY_NAME_(__LINE__))
#define AWF_TRY_ASSIGN_IMPL_(var, expr, tmp) \
  auto tmp = (expr);                         \
  if (!tmp) return tmp.error();              \
  var = std::move(tmp).value()
