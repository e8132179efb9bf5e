// A parent HTTP proxy to chain through (--upstream-proxy) and the names that
// bypass it (from no_proxy): parsed one way for awf and awf-proxy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf {

struct UpstreamProxy {
  std::string host;         // a name or an IP address, without brackets
  std::uint16_t port = 3128;  // as given; 3128 only when the URL names none
  // "http://host:port", brackets around an IPv6 address.
  std::string url() const;
  bool operator==(const UpstreamProxy&) const = default;
};

// "http://host[:port][/]". Refused, with `flag` and the value named: another
// scheme (tunnels to the parent are plain CONNECTs), credentials
// ("user:pass@": they would sit in every process's argv and environment), a
// path, query or fragment, an empty host, a port outside 1-65535. Messages
// show the value with any "user:password@" masked.
Result<UpstreamProxy> parse_upstream_proxy(std::string_view text, std::string_view flag = "--upstream-proxy");

// The names to reach directly, from a no_proxy list ("corp.example,
// .internal.test"): each a domain suffix without its leading dot (it covers
// the name and every name under it). Entries a suffix cannot express are
// left out, each with the reason: "*", IP addresses and CIDRs (the proxy
// decides on names), host:port, and anything with characters no DNS name
// has. awf warns about those taken from the environment; awf-proxy's
// --upstream-bypass refuses them.
struct BypassList {
  struct Skipped {
    std::string entry;   // as written
    std::string reason;  // why it is left out
  };
  std::vector<std::string> domains;
  std::vector<Skipped> skipped;
};
BypassList parse_no_proxy(std::string_view list);

// Whether `host` (canonical: lower case, no trailing dot) is `domain` or a
// name under it.
bool bypasses(const std::vector<std::string>& domains, std::string_view host);

}  // namespace awf
