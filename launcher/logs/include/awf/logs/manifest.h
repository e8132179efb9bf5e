// policy-manifest.json: the ordered rule list awf writes next to its logs so
// `awf logs audit` can say which rule decided each request.
// Our runtime writes it from the same PolicySpec the proxy compiles.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/logs/json.h"
#include "awf/policy/ruleset.h"
#include "awf/result.h"

namespace awf::logs {

struct ManifestRule {
  std::string id;           // "allow-both-plain", "deny-default", ...
  std::string action;       // "allow" | "deny"
  std::string acl_name;     // Squid ACL name awf would emit ("allowed_domains", "all", ...)
  std::string protocol;     // "both" | "http" | "https"
  std::vector<std::string> domains;  // ".github.com" (plain) or "^...$" (regex)
  std::string description;
  int order = 0;            // 1-based evaluation order
};

struct PolicyManifest {
  int version = 1;
  std::string generated_at;  // ISO 8601
  std::vector<ManifestRule> rules;
  std::vector<int> dangerous_ports;
  std::vector<std::string> dns_servers;
  bool ssl_bump_enabled = false;
  bool dlp_enabled = false;
  bool host_access_enabled = false;
  std::optional<std::string> allow_host_ports;  // the flag text, null when not given
  std::vector<std::string> topology_peers;      // written only when non-empty
};

// What the manifest needs besides the lists.
struct ManifestSettings {
  std::vector<std::string> dns_servers;
  bool host_access_enabled = false;
  std::optional<std::string> allow_host_ports;
  bool ssl_bump_enabled = false;
  bool dlp_enabled = false;
  std::string generated_at;  // empty: now
};

// Rules in awf's order: deny-unsafe-ports, deny-connect-unsafe-ports,
// allow-ip-<a-b-c-d> (raw IPv4 allow entries), deny-raw-ipv4, deny-raw-ipv6,
// deny-dlp (if enabled), deny-blocked-plain/-regex, allow-http-only-plain/
// -regex, allow-https-only-plain/-regex, allow-both-plain/-regex,
// deny-default. Plain domains are written as Squid dstdomain values
// (`.github.com`), patterns as awf's anchored regexes; entries made redundant
// by a parent domain or a covering pattern are pruned as awf prunes them.
// Entries that fail policy::parse_entry are left out (the spec is expected to
// have been compiled, and so validated, already).
PolicyManifest make_policy_manifest(const policy::PolicySpec& spec, const ManifestSettings& settings);

// awf's regex for a wildcard entry: `*` -> `[a-zA-Z0-9.-]*`, `.` -> `\.`,
// regex metacharacters escaped, anchored `^...$`.
std::string wildcard_to_regex(const std::string& pattern);

// Full-string, case-insensitive match of an awf wildcard entry against a
// host, with `*` standing for [A-Za-z0-9.-]* (the same language as
// wildcard_to_regex(pattern), without a regex engine).
bool wildcard_matches(std::string_view pattern, std::string_view host);

boost::json::value manifest_to_json(const PolicyManifest& manifest);
std::string manifest_to_text(const PolicyManifest& manifest);  // 2-space indented, trailing newline
Result<PolicyManifest> manifest_from_json(const boost::json::value& value);

// Writes `<dir>/policy-manifest.json`; the error names the path and errno text.
Status write_policy_manifest(const std::string& dir, const PolicyManifest& manifest);

}  // namespace awf::logs
