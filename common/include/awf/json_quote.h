// A string as a JSON string literal, written exactly as JavaScript's
// JSON.stringify writes it, so our JSON reads the same as awf's own tools'.
// (The proxy's audit.jsonl has its own writer: it also repairs bad UTF-8.)
#pragma once

#include <string>
#include <string_view>

namespace awf {

// `"` + s + `"` with \" \\ \b \f \n \r \t, \u00xx (lower-case hex) for the
// other control characters below 0x20, and every other byte as it is: '/'
// and DEL are not escaped, and non-ASCII bytes pass through unchecked.
void append_json_quoted(std::string& out, std::string_view s);
std::string json_quoted(std::string_view s);

}  // namespace awf
