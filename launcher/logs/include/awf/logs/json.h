// JSON for the log tools: Boost.JSON parses (strictly, with a nesting limit)
// and holds the values; the writer here matches JavaScript's JSON.stringify
// byte for byte (awf's log tooling is TypeScript, and our `--format json`
// outputs and policy-manifest.json must read the same).
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

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
// stands for, every string as awf::json_quoted (awf/json_quote.h) writes it;
// objects keep insertion order, as JSON.stringify does.
std::string stringify(const boost::json::value& value, int indent = 0);

// JavaScript's Number#toString for finite doubles in the ranges logs use.
std::string number_to_string(double n);

// A number's integer part (cut toward zero) when it fits an int; nullopt for
// NaN, infinities and anything beyond (converting those is undefined
// behaviour, and a log or manifest is read from a directory the sandboxed
// command could write to).
std::optional<int> integer_part(double n);

}  // namespace awf::json
