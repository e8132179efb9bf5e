// The compiled policy: allow and block lists, extra ports, allowed IPv4
// literals, compiled into a suffix trie over reversed labels (flattened into
// contiguous arrays) plus RE2 sets for wildcard patterns that are not a pure
// `*.` prefix, consulted only at the trie nodes where they can apply.
//
// Decision order, first match wins (awf's http_access order):
//   0. empty or longer than a DNS name  -> deny  invalid_host
//   1. port not 80/443/extra            -> deny  port_not_allowed
//   2. IP literal allowlisted (IPv4)    -> allow allowed
//      (unless that IPv4 is also blocklisted -> deny blocklisted; an IPv4
//      entry with a scope prefix keeps its scope -> scope_mismatch)
//   3. IP literal / IP-like host        -> deny  ip_literal
//   3b. characters no DNS name has,
//      or an empty label                -> deny  invalid_host
//   4. blocklist match (any scope)      -> deny  blocklisted
//   5. http-only entry and not CONNECT,
//      https-only entry and CONNECT     -> allow allowed
//   6. both-scope entry                 -> allow allowed
//   7. an entry of the other scope      -> deny  scope_mismatch
//   8. otherwise                        -> deny  not_in_allowlist
//                                          (empty_allowlist when there are no entries)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/entry.h"
#include "awf/policy/ports.h"
#include "awf/result.h"

namespace awf::policy {

// Why a decision was made. Closed set: a log string and a metric name each.
enum class Reason : std::uint8_t {
  allowed,           // an allowlist entry matched
  not_in_allowlist,  // no entry matched
  empty_allowlist,   // the allowlist is empty: everything is denied
  blocklisted,       // a blocklist entry matched (beats the allowlist)
  port_not_allowed,  // port is not 80, 443 or a configured extra
  ip_literal,        // the host is an IP address that is not allowlisted
  scope_mismatch,    // only an http:// (or https://) entry matched the other method
  invalid_host,      // empty host, or characters no DNS name has
};
const char* to_string(Reason reason);  // "allowed", "not_in_allowlist", ...

// What the proxy asks. The host is as the client sent it; normalisation
// (lower case, one trailing dot, IP canonical form) happens inside decide().
struct Request {
  std::string_view host;
  std::uint16_t port = 443;
  bool is_connect = true;  // CONNECT or TLS-intercepted: the https:// scope
};

struct Decision {
  bool allowed = false;
  Reason reason = Reason::not_in_allowlist;
  std::int32_t rule = -1;  // index into Ruleset::rules(), -1 when no rule decided
};

// One rule as the user wrote it, for logs and `awf policy check`.
struct Rule {
  std::string text;  // the entry as given (trimmed), e.g. "https://api.github.com"
  ListKind list = ListKind::allow;
  Scope scope = Scope::both;
};

// Everything a policy is made from, already split into entries (see sources.h
// for reading awf's flags, files and config).
struct PolicySpec {
  std::vector<std::string> allow;  // raw entries, validated by compile()
  std::vector<std::string> block;
  std::vector<PortRange> extra_ports;  // beyond 80 and 443
};

class Ruleset {
 public:
  // Validates every entry (awf's messages, prefixed `Invalid domain or
  // pattern: ` / `Invalid blocked domain or pattern: `) and compiles.
  // Warnings (inert or TLD-wide entries) are appended to `warnings` if given.
  static Result<std::shared_ptr<const Ruleset>> compile(const PolicySpec& spec,
                                                        std::vector<std::string>* warnings = nullptr);

  // Pure and thread-safe; no allocation for hosts up to 253 bytes.
  Decision decide(const Request& request) const;

  const std::vector<Rule>& rules() const { return rules_; }
  const Rule* rule(const Decision& d) const { return d.rule >= 0 ? &rules_[static_cast<std::size_t>(d.rule)] : nullptr; }
  bool allows_port(std::uint16_t port) const;
  bool empty_allowlist() const { return allow_count_ == 0; }

  // True if some allowlist entry (any scope) could allow this name on some
  // port; used by the DNS front end, which must not leak names it would deny.
  bool allows_name(std::string_view host) const;

  ~Ruleset();
  Ruleset(const Ruleset&) = delete;
  Ruleset& operator=(const Ruleset&) = delete;

  struct Compiled;  // the trie and RE2 sets; defined in ruleset.cc

 private:
  Ruleset();
  std::vector<Rule> rules_;
  std::vector<PortRange> extra_ports_;
  std::size_t allow_count_ = 0;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace awf::policy
