// Reading policy from awf's inputs: the
// comma lists of --allow-domains/--block-domains, domain files, ruleset YAML
// files and the `network:` section of awf's config file (JSON or YAML).
// All messages are awf's; they name the file and the offending value.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/ruleset.h"
#include "awf/result.h"

namespace awf::policy {

// `a.com, b.com,,c.com` -> {"a.com","b.com","c.com"}: split on ',', trim, drop empties.
std::vector<std::string> split_domain_list(std::string_view list);

// One entry per line and/or comma-separated; `#` starts a comment; blank
// lines skipped. Missing file -> `Domains file not found: <path>`.
Result<std::vector<std::string>> read_domains_file(const std::string& path);

// `{version: 1, rules: [{domain: x, subdomains: true}]}`; errors
// `Failed to load ruleset file: ...` as awf words them. `subdomains: false`
// is accepted and ignored, as awf does; a warning saying so goes to
// `warnings` when given.
Result<std::vector<std::string>> read_ruleset_file(const std::string& path,
                                                   std::vector<std::string>* warnings = nullptr);

// The firewall-relevant part of awf's `--config` file.
struct NetworkConfig {
  std::optional<std::vector<std::string>> allow_domains;  // network.allowDomains
  std::optional<std::vector<std::string>> block_domains;  // network.blockDomains
  std::optional<std::vector<std::string>> dns_servers;    // network.dnsServers
  std::optional<std::string> allow_host_ports;            // security.allowHostPorts (array joined by ',')
  std::optional<bool> enable_host_access;                 // security.enableHostAccess
};
// `.json` -> JSON, `.yaml`/`.yml` -> YAML, otherwise JSON then YAML (YAML is a
// JSON superset, so one parser reads both).
Result<NetworkConfig> read_awf_config(const std::string& path);

// The policy flags shared by `awf policy check`, `awf-proxy` and `awf`.
struct PolicyFlags {
  std::vector<std::string> allow_domains;       // each a comma list
  std::vector<std::string> block_domains;       // each a comma list
  std::vector<std::string> allow_domains_files;
  std::vector<std::string> block_domains_files;
  std::vector<std::string> ruleset_files;
  std::string allow_host_ports;                 // comma list of specs, may be empty
};

// Applies awf's order: split, trim, append files, merge rulesets,
// dedupe by exact string. File errors are prefixed as awf prefixes them
// (`Failed to read domains file: ...`, `Failed to read blocked domains file: ...`).
// Warnings of the files (read_ruleset_file) go to `warnings` when given.
Result<PolicySpec> build_spec(const PolicyFlags& flags, std::vector<std::string>* warnings = nullptr);

}  // namespace awf::policy
