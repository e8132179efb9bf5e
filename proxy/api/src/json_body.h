// JSON request bodies (internal): a strict parse that also counts the
// top-level `model` keys, and a writer for bodies we changed.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace awf::api {

// Nesting limit: request bodies (messages, tool schemas) nest a few dozen
// levels; deeper ones are not read (and, with a model policy, refused).
inline constexpr std::size_t kMaxBodyDepth = 256;

struct JsonObjectBody {
  boost::json::object object;
  // Top-level `model` keys in the text. Parsers disagree on which of two
  // duplicates counts (ours keeps the last), so more than one makes the
  // model ambiguous.
  std::size_t model_keys = 0;
};

// The body as a JSON object (RFC 8259, UTF-8, at most kMaxBodyDepth deep),
// or nullopt for anything else.
std::optional<JsonObjectBody> parse_json_object(std::string_view body);

// Compact JSON: object members in order, strings with JSON's escapes and
// other bytes as they are, numbers in their shortest round-trip form.
std::string write_json(const boost::json::value& value);

}  // namespace awf::api
