// The post-run "Firewall blocked domains" report.
#include "awf/cli/blocked_report.h"

#include <algorithm>
#include <cctype>

#include "awf/host_port.h"
#include "awf/logs/manifest.h"
#include "awf/logs/stats.h"
#include "awf/policy/host.h"

namespace awf::cli {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The access log's Host field is URL-escaped as Squid does it (an IPv6
// literal reads `%5B2001:db8::1%5D`): back to what the client sent.
std::string unescape_host(std::string_view field) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '%' && i + 2 < field.size() && hex(field[i + 1]) >= 0 && hex(field[i + 2]) >= 0) {
      out += static_cast<char>(hex(field[i + 1]) * 16 + hex(field[i + 2]));
      i += 2;
    } else {
      out += field[i];
    }
  }
  return out;
}

// `http://host:8080/x` -> `host:8080`; text without a scheme is kept.
std::string normalise_target(const std::string& t) {
  auto scheme = t.find("://");
  if (scheme == std::string::npos) return t;
  std::string rest = t.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  auto at = rest.rfind('@');
  if (at != std::string::npos) rest = rest.substr(at + 1);
  // Leniently: an unclosed `[` runs to the end, text after `]` is dropped.
  const HostPort split = split_host_port(rest);
  std::string host(split.host_as_written), port(split.port_text);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // A URL parser drops the scheme's default port.
  std::string lower_scheme = t.substr(0, scheme);
  for (char& c : lower_scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if ((lower_scheme == "http" && port == "80") || (lower_scheme == "https" && port == "443")) port.clear();
  return port.empty() ? host : host + ":" + port;
}

BlockedTarget parse_target(const std::string& target) {
  BlockedTarget t{target, target, std::nullopt};
  auto colon = target.rfind(':');
  // A bare IPv6 address (two colons or more, no brackets) carries no port.
  const bool bare_ipv6 = !target.empty() && target.front() != '[' && colon != target.find(':');
  if (colon != std::string::npos && !bare_ipv6 && all_digits(std::string_view(target).substr(colon + 1))) {
    t.domain = target.substr(0, colon);
    t.port = target.substr(colon + 1);
  }
  // Whatever a URL parser reads as an address, as the policy sees it.
  t.is_ip_literal = policy::is_ip_like(t.domain);
  return t;
}

struct AllowEntry {
  std::string domain;
  std::string protocol;  // both | http | https
};

AllowEntry parse_allow(const std::string& raw) {
  std::string_view s = raw;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string protocol = "both";
  if (s.substr(0, 7) == "http://") {
    protocol = "http";
    s.remove_prefix(7);
  } else if (s.substr(0, 8) == "https://") {
    protocol = "https";
    s.remove_prefix(8);
  }
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return {std::string(s), protocol};
}

bool entry_matches(const AllowEntry& allowed, const std::string& domain) {
  if (allowed.domain.find('*') != std::string::npos) {
    return logs::wildcard_matches(allowed.domain, domain);
  }
  return domain == allowed.domain || domain.ends_with("." + allowed.domain);
}

}  // namespace

std::vector<BlockedTarget> blocked_targets(const std::vector<logs::LogEntry>& entries,
                                           const std::set<std::string>& topology_peers) {
  std::vector<BlockedTarget> out;
  std::set<std::string> seen;
  for (const auto& e : entries) {
    if (e.decision.rfind("TCP_DENIED", 0) != 0) continue;
    std::string raw = e.method != "CONNECT" && !e.host.empty() && e.host != "-" ? unescape_host(e.host) : e.url;
    BlockedTarget t = parse_target(normalise_target(raw));
    if (logs::is_internal_domain(t.domain, topology_peers)) continue;
    if (seen.insert(t.target).second) out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> blocked_report_lines(const std::vector<BlockedTarget>& targets,
                                              const std::vector<std::string>& allowed_domains) {
  std::vector<std::string> lines;
  if (targets.empty()) return lines;
  std::vector<AllowEntry> allowed;
  for (const auto& a : allowed_domains) allowed.push_back(parse_allow(a));

  std::vector<std::string> missing, addresses;
  bool port_issues = false, protocol_issues = false;
  for (const auto& t : targets) {
    // An address is refused as an address (an IPv6 one whatever the
    // allowlist says): listed apart, and never put into the --allow-domains
    // hint, which is for names.
    if (t.is_ip_literal) {
      addresses.push_back("  - " + t.target);
      continue;
    }
    if (lines.empty()) lines.push_back("Firewall blocked domains:");
    std::string wanted = t.port == "80" ? "http" : t.port == "443" ? "https" : "both";
    std::vector<const AllowEntry*> matching;
    for (const auto& a : allowed) {
      if (entry_matches(a, t.domain)) matching.push_back(&a);
    }
    bool protocol_ok = false;
    for (const auto* a : matching) {
      protocol_ok = protocol_ok || a->protocol == "both" || wanted == "both" || a->protocol == wanted;
    }
    if (matching.empty()) {
      lines.push_back("  - Blocked: " + t.target + " (domain not in allowlist)");
      if (std::find(missing.begin(), missing.end(), t.domain) == missing.end()) missing.push_back(t.domain);
    } else if (t.port && *t.port != "80" && *t.port != "443") {
      lines.push_back("  - Blocked: " + t.target + " (port " + *t.port + " not allowed, only 80 and 443 are permitted)");
      port_issues = true;
    } else if (!protocol_ok) {
      lines.push_back("  - Blocked: " + t.target + " (protocol not allowed by allowlist entry)");
      protocol_issues = true;
    } else {
      lines.push_back("  - Blocked: " + t.target);
    }
  }
  if (!addresses.empty()) {
    lines.push_back(kIpAddressesRefused);
    lines.insert(lines.end(), addresses.begin(), addresses.end());
  }
  lines.push_back("Allowed domains:");
  for (const auto& d : allowed_domains) lines.push_back("  - Allowed: " + d);
  if (!missing.empty()) {
    std::string all;
    for (const auto& d : allowed_domains) all += (all.empty() ? "" : ",") + d;
    for (const auto& d : missing) all += (all.empty() ? "" : ",") + d;
    lines.push_back("To fix domain issues: --allow-domains \"" + all + "\"");
  }
  if (port_issues) lines.push_back("To fix port issues: Use standard ports 80 (HTTP) or 443 (HTTPS)");
  if (protocol_issues) {
    lines.push_back(
        "To fix protocol issues: add an allowlist entry for the correct protocol (http://domain or "
        "https://domain), or allow both by using the bare domain");
  }
  return lines;
}

std::string post_run_blocked_report(const std::vector<logs::LogEntry>& entries,
                                    const std::vector<std::string>& allowed_domains) {
  std::string out;
  for (const auto& line : blocked_report_lines(blocked_targets(entries), allowed_domains)) {
    out += "[WARN] " + line + "\n";
  }
  return out;
}

std::string completion_message(int exit_code) {
  if (exit_code == 0) return "[SUCCESS] Command completed successfully";
  return "[WARN] Command completed with exit code: " + std::to_string(exit_code);
}

}  // namespace awf::cli
