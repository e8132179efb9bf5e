// Port specs of --allow-host-ports: `N` or `START-END`, validated against awf's
// shared fixtures (no leading zeros, no spaces) and its dangerous-port list.
#include "awf/policy/ports.h"

#include <algorithm>
#include <array>
#include <string>

namespace awf::policy {
namespace {

// awf's Squid-side list (src/squid/policy-manifest.ts), the longer of its two.
constexpr std::array<std::uint16_t, 21> kDangerousPorts = {
    22, 23, 25, 110, 143, 445, 1433, 1521, 3306, 3389, 5432,
    5984, 6379, 6984, 8086, 8088, 9200, 9300, 27017, 27018, 28017};

// A canonical decimal in 1..65535: digits only, no leading zero. Returns 0 when
// the text is not one.
std::uint32_t parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 5 || s.front() == '0') return 0;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v <= 65535 ? v : 0;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool is_dangerous_port(std::uint16_t port) {
  return std::find(kDangerousPorts.begin(), kDangerousPorts.end(), port) != kDangerousPorts.end();
}

Result<PortRange> parse_port_spec(std::string_view spec) {
  const std::string text(spec);
  const auto dash = spec.find('-');
  if (dash != std::string_view::npos && all_digits(spec.substr(0, dash)) &&
      all_digits(spec.substr(dash + 1))) {
    const std::uint32_t first = parse_decimal(spec.substr(0, dash));
    const std::uint32_t last = parse_decimal(spec.substr(dash + 1));
    if (first == 0 || last == 0 || first > last) {
      return Error{"Invalid port range: " + text +
                   ". Must be in format START-END where 1 <= START <= END <= 65535"};
    }
    for (std::uint32_t p = first; p <= last; ++p) {
      if (is_dangerous_port(static_cast<std::uint16_t>(p))) {
        return Error{"Port range " + text + " includes dangerous port " + std::to_string(p) +
                     " which is blocked for security reasons. Dangerous ports (SSH, databases, etc.) "
                     "cannot be allowed even with --allow-host-ports."};
      }
    }
    return PortRange{static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
  }
  const std::uint32_t port = parse_decimal(spec);
  if (port == 0) return Error{"Invalid port: " + text + ". Must be a number between 1 and 65535"};
  if (is_dangerous_port(static_cast<std::uint16_t>(port))) {
    return Error{"Port " + text +
                 " is blocked for security reasons. Dangerous ports (SSH:22, MySQL:3306, "
                 "PostgreSQL:5432, etc.) cannot be allowed even with --allow-host-ports."};
  }
  return PortRange{static_cast<std::uint16_t>(port), static_cast<std::uint16_t>(port)};
}

Result<std::vector<PortRange>> parse_port_list(std::string_view list) {
  std::vector<PortRange> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = list.find(',', start);
    std::string_view item = list.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                               : comma - start);
    // Spaces around commas (`80, 443`) are how people write lists; spaces
    // inside one spec stay an error.
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    auto range = parse_port_spec(item);
    if (!range) return range.error();
    out.push_back(*range);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace awf::policy
