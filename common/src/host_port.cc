// Splitting and joining `host:port` text (see awf/host_port.h).
#include "awf/host_port.h"

namespace awf {

HostPort split_host_port(std::string_view text) {
  HostPort out;
  if (text.starts_with('[')) {
    out.bracketed = true;
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      out.fault = HostPort::Fault::unclosed_bracket;
      out.host = text.substr(1);
      out.host_as_written = text;
      return out;
    }
    out.host = text.substr(1, close - 1);
    out.host_as_written = text.substr(0, close + 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.starts_with(':')) out.port_text = rest.substr(1);
    else if (!rest.empty()) out.fault = HostPort::Fault::text_after_bracket;
    return out;
  }
  const auto colon = text.find(':');
  out.host = text.substr(0, colon);
  out.host_as_written = out.host;
  if (colon != std::string_view::npos) out.port_text = text.substr(colon + 1);
  return out;
}

std::optional<std::uint16_t> parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::string join_host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  const bool bracket = host.find(':') != std::string_view::npos;
  out.reserve(host.size() + 8);
  if (bracket) out += '[';
  out += host;
  if (bracket) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace awf
