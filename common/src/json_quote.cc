// JSON.stringify's string literals (see awf/json_quote.h).
#include "awf/json_quote.h"

namespace awf {

void append_json_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20) {
          const char escape[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
          out.append(escape, sizeof escape);
        } else {
          out += c;
        }
      }
    }
  }
  out += '"';
}

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_quoted(out, s);
  return out;
}

}  // namespace awf
