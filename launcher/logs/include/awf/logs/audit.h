// `awf logs audit`: replays each log entry against the policy manifest's
// rules in order to name the rule that decided it, and the report formats.
#pragma once

#include <string>
#include <vector>

#include "awf/logs/entry.h"
#include "awf/logs/manifest.h"

namespace awf::logs {

struct AuditedEntry {
  LogEntry entry;
  std::string matched_rule;  // rule id, or "unknown"
  std::string match_reason;  // the rule's description, or "Allowed/Denied (rule not identified)"
};

struct RuleHits {
  std::string rule_id;
  std::string description;
  std::string action;
  std::size_t hits = 0;
};

// For each entry, the first rule (by order) whose protocol fits the method,
// whose domains match the entry's domain and whose action agrees with the
// logged outcome; `deny-default` (ACL `all`) takes any denied entry. Rules
// without domains (port and DLP checks) cannot be replayed and are skipped.
std::vector<AuditedEntry> audit_entries(const std::vector<LogEntry>& entries, const PolicyManifest& manifest);

// Hits per manifest rule (manifest order), aborted transactions not counted.
std::vector<RuleHits> rule_hits(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest);

struct AuditFilter {
  std::string rule;      // exact rule id; empty: any
  std::string domain;    // case-insensitive substring; empty: any
  std::string decision;  // "allowed" | "denied" | empty
};
// Applies the filter and drops aborted transactions, as awf does before output.
std::vector<AuditedEntry> filter_audited(std::vector<AuditedEntry> entries, const AuditFilter& filter);

// One JSON object per line: {timestamp, domain, method, status, decision,
// matchedRule, matchReason, url}.
std::string format_audit_json(const std::vector<AuditedEntry>& entries);
std::string format_audit_markdown(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest);
std::string format_audit_pretty(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest,
                                bool colourise);

}  // namespace awf::logs
