// A small JSON value with a strict parser and a writer whose output matches
// JavaScript's JSON.stringify (awf's log tooling is TypeScript, and our
// `--format json` outputs and policy-manifest.json must read the same).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/result.h"

namespace awf::json {

class Value;
using Array = std::vector<Value>;
// Objects keep insertion order, as JSON.stringify does for string keys.
using Object = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Value() = default;
  Value(std::nullptr_t) {}                                  // NOLINT: implicit by design
  Value(bool b) : kind_(Kind::boolean), bool_(b) {}         // NOLINT
  Value(double n) : kind_(Kind::number), number_(n) {}      // NOLINT
  Value(int n) : kind_(Kind::number), number_(n) {}         // NOLINT
  Value(std::int64_t n) : kind_(Kind::number), number_(static_cast<double>(n)) {}  // NOLINT
  Value(std::size_t n) : kind_(Kind::number), number_(static_cast<double>(n)) {}   // NOLINT
  Value(const char* s) : kind_(Kind::string), string_(s) {}  // NOLINT
  Value(std::string s) : kind_(Kind::string), string_(std::move(s)) {}  // NOLINT
  Value(std::string_view s) : kind_(Kind::string), string_(s) {}        // NOLINT
  Value(Array a);   // NOLINT
  Value(Object o);  // NOLINT

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_number() const { return kind_ == Kind::number; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  const Array& as_array() const;
  const Object& as_object() const;
  Array& as_array();
  Object& as_object();

  // Member lookup for objects; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  // Appends (or replaces) a member; the value must be an object.
  Value& set(std::string key, Value v);

 private:
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;
};

// Strict RFC 8259 parse of one document (surrounding whitespace allowed).
// The error names the byte offset: `Unexpected token at position 12`.
Result<Value> parse(std::string_view text);

// JSON.stringify(value) when indent is 0, JSON.stringify(value, null, indent)
// otherwise. Numbers use the shortest round-trip form, integers without `.0`.
std::string stringify(const Value& value, int indent = 0);

// `"..."` with JSON.stringify's escapes (\" \\ \b \f \n \r \t, \u00XX for
// other control characters; non-ASCII bytes are written through).
std::string quote(std::string_view s);

// JavaScript's Number#toString for finite doubles in the ranges logs use.
std::string number_to_string(double n);

}  // namespace awf::json
