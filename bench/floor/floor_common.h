// What both floors (floor_relay.cc on epoll, floor_uring.cc on io_uring)
// share: the canned answers, the head limit, and reading the command line's
// numbers and addresses and a CONNECT request's target, so the two serve the
// same loads the same way and differ only in how bytes move.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awf::floor {

inline constexpr std::size_t kHeadLimit = 16 * 1024;
inline constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
inline constexpr std::string_view kDenied =
    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\ndenied\n";

// A decimal number, digits only.
inline std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// A decimal port, 0-65535, nothing else.
inline std::optional<std::uint16_t> parse_port(std::string_view text) {
  auto value = parse_number(text);
  if (!value || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

// "IPV4:PORT" into `out`.
inline bool parse_address(const std::string& text, sockaddr_in& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  auto port = parse_port(std::string_view(text).substr(colon + 1));
  if (!port) return false;
  out.sin_family = AF_INET;
  out.sin_port = htons(*port);
  return ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

// The target of a "CONNECT target HTTP/1.1" head (`head` starts with "CONNECT ").
inline std::string_view connect_target(std::string_view head) { return head.substr(8, head.find(' ', 8) - 8); }

// The port a CONNECT target names (443 when it names none), or nothing when
// what follows its last colon is no port.
inline std::optional<std::uint16_t> connect_port(std::string_view target) {
  const std::size_t colon = target.rfind(':');
  return colon == std::string_view::npos ? std::optional<std::uint16_t>(443) : parse_port(target.substr(colon + 1));
}

}  // namespace awf::floor
