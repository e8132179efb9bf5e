// `awf logs` output of single entries: raw (verbatim), pretty (one readable
// line, coloured on a terminal) and json (one object per line), as awf prints
// them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "awf/logs/entry.h"

namespace awf::logs {

enum class OutputFormat { raw, pretty, json };

// Reads `text` as the name of one of `formats`; otherwise the error is awf's
// text, listing the names in the order given:
// `Invalid format: X. Must be one of: a, b, c`.
template <typename Format>
bool parse_format_name(std::string_view text, std::initializer_list<std::pair<std::string_view, Format>> formats,
                       Format& out, std::string& error) {
  std::string names;
  for (const auto& [name, format] : formats) {
    if (text == name) {
      out = format;
      return true;
    }
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  error = "Invalid format: " + std::string(text) + ". Must be one of: " + names;
  return false;
}

// "raw" | "pretty" | "json"; the error is awf's text:
// `Invalid format: X. Must be one of: raw, pretty, json`.
bool parse_output_format(std::string_view text, OutputFormat& out, std::string& error);

// Terminal colours as chalk writes them; each returns `s` unchanged when
// `enabled` is false.
namespace colour {
std::string bold(std::string_view s, bool enabled);
std::string gray(std::string_view s, bool enabled);
std::string green(std::string_view s, bool enabled);
std::string red(std::string_view s, bool enabled);
}  // namespace colour

// `[2025-10-21 19:19:34.646] CONNECT api.github.com → 200 (ALLOWED) [curl/8.0]`
// The port is shown unless it is 443 (CONNECT) or 80/443 (other methods);
// the User-Agent only when it is not `-`. No trailing newline.
std::string format_pretty(const LogEntry& entry, bool colourise);

// One JSON object with awf's keys in awf's order (timestamp clientIp
// clientPort host destIp destPort protocol method statusCode decision url
// userAgent domain isAllowed isHttps). No trailing newline.
std::string format_json(const LogEntry& entry);

}  // namespace awf::logs
