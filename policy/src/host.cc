// Request-host normalisation and IP-literal recognition in every notation a
// client or URL parser accepts (WHATWG URL host parsing, inet_aton, RFC 4291).
#include "awf/policy/host.h"

#include <arpa/inet.h>

#include <cstring>

#include "host_internal.h"

namespace awf::policy {

std::string normalise_host(std::string_view host) {
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

namespace detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One part of a WHATWG IPv4 host: `0x..` hex (may be empty after the prefix),
// a leading `0` octal, else decimal. False when the part is not a number.
bool parse_v4_part(std::string_view part, std::uint64_t& value) {
  if (part.empty()) return false;
  int radix = 10;
  if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    radix = 16;
    part.remove_prefix(2);
  } else if (part.size() >= 2 && part[0] == '0') {
    radix = 8;
    part.remove_prefix(1);
  }
  value = 0;
  for (char c : part) {
    int digit;
    if (is_digit(c)) digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else return false;
    if (digit >= radix) return false;
    value = value * static_cast<std::uint64_t>(radix) + static_cast<std::uint64_t>(digit);
    if (value > 0xffffffffULL) value = 0x100000000ULL;  // saturate: too big either way
  }
  return true;
}

// WHATWG "ends in a number": the last label is all digits or a valid 0x
// number (the one trailing dot WHATWG ignores is gone already). Such hosts
// are parsed as IPv4 by browsers and curl; if that fails the URL is invalid,
// never a name.
bool ends_in_number(std::string_view host) {
  const auto dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && is_digit(c);
  if (digits) return true;
  std::uint64_t ignored;
  return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
         parse_v4_part(last, ignored);
}

}  // namespace

IpClass classify_ip(std::string_view host, RawIp& out) {
  out = RawIp{};
  if (host.empty()) return IpClass::name;
  const bool bracketed = host.front() == '[';
  if (bracketed || host.find(':') != std::string_view::npos) {
    std::string_view inner = host;
    if (bracketed) {
      if (host.size() < 2 || host.back() != ']') return IpClass::malformed;
      inner = host.substr(1, host.size() - 2);
    }
    // Zone ids (`fe80::1%eth0`, URL form `%25eth0`) name an interface, not an
    // address; the address before them is what policy sees.
    const auto zone = inner.find('%');
    if (zone != std::string_view::npos) inner = inner.substr(0, zone);
    char buf[64];
    if (inner.empty() || inner.size() >= sizeof buf) return IpClass::malformed;
    std::memcpy(buf, inner.data(), inner.size());
    buf[inner.size()] = '\0';
    if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) {
      // Brackets always mean an address. Without them only text an IPv6
      // parser could have meant (hex digits, colons, dots) is a bad address;
      // `github.com:443` is a name with junk, not an IP.
      if (bracketed) return IpClass::malformed;
      for (char c : inner) {
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) {
          return IpClass::name;
        }
      }
      return IpClass::malformed;
    }
    out.is_v6 = true;
    const auto& b = out.bytes;
    auto zero = [&](int from, int to) {
      for (int i = from; i < to; ++i) {
        if (b[static_cast<std::size_t>(i)] != 0) return false;
      }
      return true;
    };
    auto take_v4 = [&](int at) {
      out.has_embedded_v4 = true;
      for (int i = 0; i < 4; ++i) out.v4[static_cast<std::size_t>(i)] = b[static_cast<std::size_t>(at + i)];
    };
    if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) {
      take_v4(12);  // ::ffff:a.b.c.d, v4-mapped
      out.embedding = Embedding::mapped;
    } else if (zero(0, 12) && !(zero(12, 15) && b[15] <= 1)) {
      take_v4(12);  // ::a.b.c.d, v4-compatible (not :: or ::1)
      out.embedding = Embedding::compatible;
    } else if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {
      take_v4(12);  // 64:ff9b::/96, NAT64 well-known prefix (RFC 6052)
      out.embedding = Embedding::nat64;
    } else if (b[0] == 0x20 && b[1] == 0x02) {
      take_v4(2);  // 2002::/16, 6to4 (RFC 3056)
      out.embedding = Embedding::six_to_four;
    }
    return IpClass::v6;
  }
  if (!ends_in_number(host)) return IpClass::name;
  std::string_view rest = host;
  std::uint64_t parts[4];
  int n = 0;
  while (true) {
    const auto dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    if (n == 4 || !parse_v4_part(part, parts[n])) return IpClass::malformed;
    ++n;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  for (int i = 0; i + 1 < n; ++i) {
    if (parts[i] > 255) return IpClass::malformed;
  }
  const std::uint64_t limit = 1ULL << (8 * (5 - n));
  if (parts[n - 1] >= limit) return IpClass::malformed;
  std::uint64_t v = parts[n - 1];
  for (int i = 0; i + 1 < n; ++i) v += parts[i] << (8 * (3 - i));
  out.v4 = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  for (int i = 0; i < 4; ++i) out.bytes[static_cast<std::size_t>(i)] = out.v4[static_cast<std::size_t>(i)];
  return IpClass::v4;
}

}  // namespace detail

namespace {

// One trailing dot names the same host (as decide() and normalise_host()
// read it); classify_ip() takes the host without it. Removing it here, once,
// keeps the proxy's canonical host and the policy's view of an address the
// same: `::10.0.0.2.` is that address for both, `1.2.3.4..` for neither.
std::string_view without_trailing_dot(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace

std::optional<IpAddress> parse_ip_literal(std::string_view host) {
  detail::RawIp raw;
  const auto cls = detail::classify_ip(without_trailing_dot(host), raw);
  if (cls != detail::IpClass::v4 && cls != detail::IpClass::v6) return std::nullopt;
  IpAddress ip;
  ip.is_v6 = raw.is_v6;
  ip.bytes = raw.bytes;
  char text[INET6_ADDRSTRLEN];
  if (raw.is_v6) {
    inet_ntop(AF_INET6, raw.bytes.data(), text, sizeof text);
    ip.canonical = std::string("[") + text + "]";
    if (raw.has_embedded_v4) ip.embedded_v4 = raw.v4;
  } else {
    inet_ntop(AF_INET, raw.bytes.data(), text, sizeof text);
    ip.canonical = text;
  }
  return ip;
}

bool is_ip_like(std::string_view host) {
  detail::RawIp raw;
  return detail::classify_ip(without_trailing_dot(host), raw) != detail::IpClass::name;
}

}  // namespace awf::policy
