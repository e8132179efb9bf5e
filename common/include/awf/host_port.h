// `host:port` text, split and joined one way for every program: listen
// addresses, DNS servers, request authorities, log fields. Each caller keeps
// its own rules on top (a default port, whether port 0 or an unbracketed IPv6
// address is acceptable) and its own error message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awf {

// The pieces of `host`, `host:port`, `[v6]` or `[v6]:port`. The views point
// into the text given to split_host_port(), which must outlive them.
struct HostPort {
  enum class Fault {
    none,
    unclosed_bracket,    // `[::1`: `host` runs to the end of the text
    text_after_bracket,  // `[::1]x`: what follows `]` is neither nothing nor `:port`
  };

  std::string_view host;             // without brackets
  std::string_view host_as_written;  // with them, when there were any
  std::string_view port_text;        // after the `:` that ends the host; empty when none (not checked)
  bool bracketed = false;            // the text starts with `[`
  Fault fault = Fault::none;

  // Unbracketed text with more than one `:` (`::1`, `fe80::1:53`): an IPv6
  // address written without brackets, or junk. Its port cannot be told from
  // the address, so callers refuse it or take the whole text as an address.
  bool has_bare_colons() const { return !bracketed && port_text.find(':') != std::string_view::npos; }
};

// Never fails; `fault` says what is wrong with a bracketed host. Without
// brackets the host ends at the first `:` and the rest is `port_text`.
HostPort split_host_port(std::string_view text);

// 1 to 5 ASCII digits whose value is at most 65535 (0 included: callers that
// need a real port refuse it themselves). No sign, no spaces.
std::optional<std::uint16_t> parse_port(std::string_view digits);

// `host:port`, or `[host]:port` when the host has a `:` (an IPv6 address).
std::string join_host_port(std::string_view host, std::uint16_t port);

}  // namespace awf
