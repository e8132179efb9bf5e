// Request hosts: Squid-style normalisation and recognition of IP literals in
// every notation a client or URL parser accepts.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awf::policy {

// Lower-cases and removes one trailing dot, as Squid does before matching and
// logging. Brackets of an IPv6 literal are kept. Pure, allocation only for the
// returned string.
std::string normalise_host(std::string_view host);

struct IpAddress {
  bool is_v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4 bytes
  std::string canonical;  // "93.184.216.34", "[2001:db8::1]" (as Squid logs it)
  // The embedded IPv4 address for v4-mapped, v4-compatible, NAT64 (64:ff9b::/96)
  // and 6to4 (2002::/16) IPv6 forms, so policy and SSRF checks see through them.
  std::optional<std::array<std::uint8_t, 4>> embedded_v4;
};

// Recognises a host that is an IP address rather than a name: dotted quad,
// short forms (`127.1`), single decimal (`2130706433`), hex (`0x7f000001`,
// `0x7f.1`), octal (`0177.0.0.1`) and mixes of these (inet_aton / WHATWG URL
// rules); bracketed or bare IPv6 including zone ids (`[fe80::1%25eth0]`),
// IPv4-mapped and IPv4-compatible forms. Malformed numeric hosts that do not
// parse are reported by is_ip_like() instead.
std::optional<IpAddress> parse_ip_literal(std::string_view host);

// True for anything a URL parser would try to read as an address: every
// parse_ip_literal() success plus malformed numeric forms (`999.1.1.1`,
// `1.2.3.4.5`, `[zz::]`). Such hosts are never matched as names.
bool is_ip_like(std::string_view host);

}  // namespace awf::policy
