// The report printed after a command that hit the firewall:
// which names were blocked and why (domain, port or protocol), the
// addresses refused, the allowlist, and the `--allow-domains` line that
// would fix it for the names.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "awf/logs/entry.h"

namespace awf::cli {

struct BlockedTarget {
  std::string target;               // "evil.com:443", "example.com", "[2001:db8::1]"
  std::string domain;               // target minus a numeric port
  std::optional<std::string> port;
  bool is_ip_literal = false;       // domain is an address (policy::is_ip_like), not a name
};

// The heading of the report's list of addresses. A request by address is
// refused unless --allow-domains lists that IPv4 address itself (IPv6
// addresses cannot be listed), and the fix is to use the name.
inline constexpr const char* kIpAddressesRefused =
    "IP addresses refused (only an IPv4 address listed as such in --allow-domains passes; use names):";

// Unique denied targets (TCP_DENIED entries), first-seen order: CONNECT ->
// the URL (`host:port`); otherwise the Host header (a full URL is reduced to
// host[:port]). awf's internal destinations (logs::is_internal_domain) are left out.
std::vector<BlockedTarget> blocked_targets(const std::vector<logs::LogEntry>& entries,
                                           const std::set<std::string>& topology_peers = {});

// The report lines without a level prefix:
//   "Firewall blocked domains:"                         (when a name was refused)
//   "  - Blocked: <t> (domain not in allowlist)"        (or port / protocol reason)
//   kIpAddressesRefused  "  - <address>" ...            (when an address was refused)
//   "Allowed domains:"  "  - Allowed: <d>" ...
//   "To fix domain issues: --allow-domains \"<old,...,missing>\""
//   "To fix port issues: Use standard ports 80 (HTTP) or 443 (HTTPS)"
//   "To fix protocol issues: ..."
// Empty when there is nothing to report.
std::vector<std::string> blocked_report_lines(const std::vector<BlockedTarget>& targets,
                                              const std::vector<std::string>& allowed_domains);

// What the launcher prints after the command exits: the report, each line as
// `[WARN] <line>\n`, whenever there were denials; otherwise an empty string.
// awf prints it only after a non-zero exit, but a command that shrugs off a
// failed download (`|| true`, optional fetches, retries that give up
// quietly) exits 0 with a hole in its work, and the report is the one place
// that says so.
std::string post_run_blocked_report(const std::vector<logs::LogEntry>& entries,
                                    const std::vector<std::string>& allowed_domains);

// The line after the report: `[SUCCESS] Command completed successfully` for
// exit code 0, else `[WARN] Command completed with exit code: N`.
std::string completion_message(int exit_code);

}  // namespace awf::cli
