// JSON for the log tools: Boost.JSON parses (strictly, with a nesting limit)
// and holds the values; the writer here matches JavaScript's JSON.stringify
// byte for byte (awf's log tooling is TypeScript, and our `--format json`
// outputs and policy-manifest.json must read the same).
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/result.h"

namespace awf::json {

// Nesting limit for parsed documents: the logs and manifests we read nest a
// few levels, and input may be hostile.
inline constexpr std::size_t kMaxDepth = 64;

// Strict RFC 8259 parse of one document (surrounding whitespace allowed;
// invalid UTF-8 inside strings is kept as bytes). Numbers are read exactly as
// JSON.parse reads them. Unlike JSON.parse, a lone UTF-16 surrogate escape
// (`"\ud83d"` with no low half) is refused: Boost 1.81 has no option for it.
// The error names what failed and where:
// `Unexpected token at position 12`, `Unexpected end of JSON input`,
// `JSON nested deeper than 64 levels at position 64`.
Result<boost::json::value> parse_value(std::string_view text);

// A member of an object, or nullptr when absent or `value` is not an object.
const boost::json::value* find(const boost::json::value& value, std::string_view key);

// JSON.stringify(value) when indent is 0, JSON.stringify(value, null, indent)
// otherwise. Every number is written as JavaScript writes the double it
// stands for; objects keep insertion order, as JSON.stringify does.
std::string stringify(const boost::json::value& value, int indent = 0);

// `"..."` with JSON.stringify's escapes (\" \\ \b \f \n \r \t, \u00XX for
// other control characters; non-ASCII bytes are written through).
std::string quote(std::string_view s);

// JavaScript's Number#toString for finite doubles in the ranges logs use.
std::string number_to_string(double n);

// The tree type launcher/cli's config reader walks (it builds one from YAML
// too). It is filled from boost::json::value by `parse`; the log tools use
// boost::json::value directly.
class Value;
using Array = std::vector<Value>;
// Objects keep insertion order.
using Object = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Value() = default;
  Value(std::nullptr_t) {}                                  // NOLINT: implicit by design
  Value(bool b) : kind_(Kind::boolean), bool_(b) {}         // NOLINT
  Value(double n) : kind_(Kind::number), number_(n) {}      // NOLINT
  Value(const char* s) : kind_(Kind::string), string_(s) {}  // NOLINT
  Value(std::string s) : kind_(Kind::string), string_(std::move(s)) {}  // NOLINT
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

  // Member lookup for objects; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  // Appends (or replaces) a member; the value becomes an object.
  Value& set(std::string key, Value v);

 private:
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;
};

// parse_value, then the result copied into a Value.
Result<Value> parse(std::string_view text);

}  // namespace awf::json
