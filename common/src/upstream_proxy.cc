// --upstream-proxy and no_proxy parsing; see upstream_proxy.h.
#include "awf/upstream_proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "awf/host_port.h"

namespace awf {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool name_chars_only(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

bool is_ipv6_address(const std::string& s) {
  in6_addr address{};
  return ::inet_pton(AF_INET6, s.c_str(), &address) == 1;
}

bool looks_like_ip_or_cidr(std::string_view s) {
  // Digits, dots and a slash (IPv4, CIDR) or any colon (IPv6).
  if (s.find(':') != std::string_view::npos) return true;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || c == '.' || c == '/'; });
}

}  // namespace

std::string UpstreamProxy::url() const { return "http://" + join_host_port(host, port); }

Result<UpstreamProxy> parse_upstream_proxy(std::string_view text, std::string_view flag) {
  // Messages quote the value with any "user:password@" masked: a proxy
  // variable's password must not reach logs through an error.
  std::string shown(text);
  if (const auto at = shown.find('@'); at != std::string::npos) {
    const auto scheme = shown.find("://");
    const std::size_t from = scheme == std::string::npos ? 0 : scheme + 3;
    if (from <= at) shown.replace(from, at - from, "***");
  }
  const std::string quoted = std::string(flag) + " \"" + shown + "\"";
  std::string_view rest = trim(text);
  const auto scheme_end = rest.find("://");
  if (scheme_end == std::string_view::npos) {
    return Error{quoted + ": expected a URL like http://proxy.example:3128"};
  }
  const std::string scheme = lower(rest.substr(0, scheme_end));
  if (scheme != "http") {
    return Error{quoted + ": only http:// parent proxies are supported (not " + scheme +
                 "://); HTTPS still goes through them as CONNECT tunnels"};
  }
  rest.remove_prefix(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    return Error{quoted + ": credentials in the URL are not supported (every process could read them from the "
                          "command line); use a parent proxy that admits this machine by address"};
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return Error{quoted + ": a proxy URL has no path, query or fragment"};
  }
  const HostPort split = split_host_port(rest);
  if (split.fault != HostPort::Fault::none || split.has_bare_colons()) {
    return Error{quoted + ": cannot read the host (write an IPv6 address in brackets: http://[::1]:3128)"};
  }
  if (split.host.empty()) return Error{quoted + ": the URL names no host"};
  UpstreamProxy out;
  out.host = lower(split.host);
  if (!split.bracketed && !name_chars_only(out.host)) {
    return Error{quoted + ": \"" + out.host + "\" is not a host name or address"};
  }
  // Brackets hold an IPv6 address and nothing else: `[proxy.example]` or
  // `[junk]` would be written back without them (url(), the child's
  // environment) as a different, or no, URL.
  if (split.bracketed && !is_ipv6_address(out.host)) {
    return Error{quoted + ": \"[" + out.host + "]\" is not an IPv6 address"};
  }
  if (rest.size() > split.host_as_written.size()) {  // a ':' follows the host
    const auto port = parse_port(split.port_text);
    if (!port || *port == 0) return Error{quoted + ": the port must be a number from 1 to 65535"};
    out.port = *port;
  }
  return out;
}

BypassList parse_no_proxy(std::string_view list) {
  BypassList out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = trim(list.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    const std::string text(entry);
    if (entry == "*") {
      out.skipped.push_back({text, "it would bypass the upstream proxy for everything"});
      continue;
    }
    if (const auto colon = entry.rfind(':'); colon != std::string_view::npos && colon + 1 < entry.size() &&
        entry.find(':') == colon && name_chars_only(entry.substr(0, colon)) &&
        std::all_of(entry.begin() + colon + 1, entry.end(), [](unsigned char c) { return std::isdigit(c); }) &&
        !looks_like_ip_or_cidr(entry.substr(0, colon))) {
      out.skipped.push_back({text, "host:port is not supported (a bypass covers every port of a name)"});
      continue;
    }
    if (looks_like_ip_or_cidr(entry)) {
      out.skipped.push_back({text, "addresses and ranges are not matched, only names (the proxy decides on "
                                   "the name a client asks for)"});
      continue;
    }
    while (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (entry.rfind("*.", 0) == 0) entry.remove_prefix(2);
    while (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);  // `*..x` is `x`
    if (!name_chars_only(entry)) {
      out.skipped.push_back({text, "not a domain name (patterns other than a leading \"*.\" or \".\" are not "
                                   "supported)"});
      continue;
    }
    std::string domain = lower(entry);
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    // `*..` is all pattern and dots: nothing of a name is left, and an empty
    // suffix would bypass every host that ends in a dot.
    if (domain.empty()) {
      out.skipped.push_back({text, "not a domain name (nothing is left of it but dots and a \"*.\")"});
      continue;
    }
    if (std::find(out.domains.begin(), out.domains.end(), domain) == out.domains.end()) {
      out.domains.push_back(std::move(domain));
    }
  }
  return out;
}

bool bypasses(const std::vector<std::string>& domains, std::string_view host) {
  for (const std::string& d : domains) {
    if (host == d) return true;
    if (host.size() > d.size() && host.ends_with(d) && host[host.size() - d.size() - 1] == '.') return true;
  }
  return false;
}

}  // namespace awf
