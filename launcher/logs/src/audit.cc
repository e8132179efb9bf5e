// Rule attribution for `awf logs audit` and its three report formats.
#include "awf/logs/audit.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include <re2/re2.h>

#include "awf/logs/format.h"
#include "awf/logs/json.h"

namespace awf::logs {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool has_regex_meta(const std::string& s) { return s.find_first_of("\\^$*+?{}()[]|") != std::string::npos; }

// One manifest rule prepared for replay: regexes compiled once.
struct PreparedRule {
  const ManifestRule* rule;
  bool is_regex = false;
  std::vector<std::unique_ptr<RE2>> regexes;  // entries that do not compile are skipped
};

PreparedRule prepare(const ManifestRule& r) {
  PreparedRule p{&r, false, {}};
  p.is_regex = r.acl_name.find("regex") != std::string::npos ||
               std::any_of(r.domains.begin(), r.domains.end(), has_regex_meta);
  if (p.is_regex) {
    // awf builds JavaScript RegExps with the `i` flag; RE2 reads the same
    // simple syntax and runs in linear time whatever the manifest holds.
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    for (const auto& d : r.domains) {
      auto re = std::make_unique<RE2>(d, options);
      if (re->ok()) p.regexes.push_back(std::move(re));
    }
  }
  return p;
}

bool domain_matches(const PreparedRule& p, const std::string& domain) {
  if (domain.empty() || domain == "-") return false;
  std::string host = lower(domain);
  if (p.is_regex) {
    for (const auto& re : p.regexes) {
      if (RE2::PartialMatch(host, *re)) return true;
    }
    return false;
  }
  for (const auto& d : p.rule->domains) {
    std::string acl = lower(d);
    if (!acl.empty() && acl.front() == '.') {
      if (host == acl.substr(1) || host.ends_with(acl)) return true;
    } else if (host == acl) {
      return true;
    }
  }
  return false;
}

bool protocol_matches(const ManifestRule& r, bool is_https) {
  return r.protocol == "both" || (r.protocol == "https" && is_https) || (r.protocol == "http" && !is_https);
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    out += lines[i];
  }
  return out;
}

std::vector<const AuditedEntry*> denied_requests(const std::vector<AuditedEntry>& entries) {
  std::vector<const AuditedEntry*> out;
  for (const auto& e : entries) {
    if (!e.entry.is_allowed && !is_aborted_transaction(e.entry)) out.push_back(&e);
  }
  return out;
}

}  // namespace

std::vector<AuditedEntry> audit_entries(const std::vector<LogEntry>& entries, const PolicyManifest& manifest) {
  std::vector<const ManifestRule*> ordered;
  for (const auto& r : manifest.rules) ordered.push_back(&r);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const ManifestRule* a, const ManifestRule* b) { return a->order < b->order; });
  std::vector<PreparedRule> rules;
  for (const auto* r : ordered) rules.push_back(prepare(*r));

  std::vector<AuditedEntry> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    const std::string expected = e.is_allowed ? "allow" : "deny";
    const ManifestRule* match = nullptr;
    for (const auto& p : rules) {
      const ManifestRule& r = *p.rule;
      if (!protocol_matches(r, e.is_https)) continue;
      if (r.acl_name == "all") {
        if (expected == "deny") {
          match = &r;
          break;
        }
        continue;
      }
      if (r.domains.empty()) continue;  // port and DLP rules cannot be replayed from a log line
      if (!domain_matches(p, e.domain)) continue;
      if (r.action == expected) {
        match = &r;
        break;
      }
    }
    if (match) {
      out.push_back({e, match->id, match->description});
    } else {
      out.push_back({e, "unknown", e.is_allowed ? "Allowed (rule not identified)" : "Denied (rule not identified)"});
    }
  }
  return out;
}

std::vector<RuleHits> rule_hits(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest) {
  std::map<std::string, std::size_t> counts;
  for (const auto& e : entries) {
    if (!is_aborted_transaction(e.entry)) ++counts[e.matched_rule];
  }
  std::vector<RuleHits> out;
  for (const auto& r : manifest.rules) {
    auto it = counts.find(r.id);
    out.push_back({r.id, r.description, r.action, it == counts.end() ? 0 : it->second});
  }
  return out;
}

std::vector<AuditedEntry> filter_audited(std::vector<AuditedEntry> entries, const AuditFilter& filter) {
  std::string domain = lower(filter.domain);
  std::vector<AuditedEntry> out;
  for (auto& e : entries) {
    if (!filter.rule.empty() && e.matched_rule != filter.rule) continue;
    if (!domain.empty() && lower(e.entry.domain).find(domain) == std::string::npos) continue;
    if (!filter.decision.empty() && e.entry.is_allowed != (filter.decision == "allowed")) continue;
    if (is_aborted_transaction(e.entry)) continue;
    out.push_back(std::move(e));
  }
  return out;
}

std::string format_audit_json(const std::vector<AuditedEntry>& entries) {
  std::vector<std::string> lines;
  for (const auto& a : entries) {
    boost::json::object o;
    o.emplace("timestamp", a.entry.timestamp);
    o.emplace("domain", a.entry.domain);
    o.emplace("method", a.entry.method);
    o.emplace("status", a.entry.status_code);
    o.emplace("decision", a.entry.is_allowed ? "allowed" : "denied");
    o.emplace("matchedRule", a.matched_rule);
    o.emplace("matchReason", a.match_reason);
    o.emplace("url", a.entry.url);
    lines.push_back(json::stringify(boost::json::value(std::move(o))));
  }
  return join(lines);
}

std::string format_audit_markdown(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest) {
  std::vector<std::string> lines;
  auto hits = rule_hits(entries, manifest);
  lines.push_back("## Firewall Audit Report\n");
  lines.push_back("### Active Policy\n");
  lines.push_back(std::string("- **SSL Bump**: ") + (manifest.ssl_bump_enabled ? "enabled" : "disabled"));
  lines.push_back(std::string("- **DLP**: ") + (manifest.dlp_enabled ? "enabled" : "disabled"));
  lines.push_back(std::string("- **Host Access**: ") + (manifest.host_access_enabled ? "enabled" : "disabled"));
  std::string dns;
  for (std::size_t i = 0; i < manifest.dns_servers.size(); ++i) dns += (i ? ", " : "") + manifest.dns_servers[i];
  lines.push_back("- **DNS Servers**: " + dns);
  lines.push_back("- **Dangerous Ports Blocked**: " + std::to_string(manifest.dangerous_ports.size()) + " ports\n");
  lines.push_back("### Rule Evaluation\n");
  lines.push_back("| Rule | Action | Hits | Description |");
  lines.push_back("|------|--------|------|-------------|");
  for (const auto& r : hits) {
    std::string icon = r.action == "allow" ? "\u2705" : "\U0001F6AB";
    std::string count = r.hits > 0 ? "**" + std::to_string(r.hits) + "**" : "0";
    lines.push_back("| " + r.rule_id + " | " + icon + " " + r.action + " | " + count + " | " + r.description + " |");
  }
  auto denied = denied_requests(entries);
  if (!denied.empty()) {
    lines.push_back("\n### Denied Requests\n");
    lines.push_back("| Timestamp | Domain | Rule | Reason |");
    lines.push_back("|-----------|--------|------|--------|");
    for (std::size_t i = 0; i < denied.size() && i < 50; ++i) {
      const auto& a = *denied[i];
      lines.push_back("| " + iso_time(a.entry.timestamp) + " | " + a.entry.domain + " | " + a.matched_rule + " | " +
                      a.match_reason + " |");
    }
    if (denied.size() > 50) {
      lines.push_back("\n_...and " + std::to_string(denied.size() - 50) + " more denied requests_");
    }
  }
  return join(lines);
}

std::string format_audit_pretty(const std::vector<AuditedEntry>& entries, const PolicyManifest& manifest, bool c) {
  std::vector<std::string> lines;
  auto hits = rule_hits(entries, manifest);
  lines.push_back(colour::bold("Firewall Audit Report", c));
  std::string rule;
  for (int i = 0; i < 60; ++i) rule += "\u2500";
  lines.push_back(colour::gray(rule, c));
  lines.push_back("");
  lines.push_back(colour::bold("Rule Evaluation:", c));
  std::size_t width = 0;
  for (const auto& r : hits) width = std::max(width, r.rule_id.size());
  for (const auto& r : hits) {
    std::string padded = r.rule_id + std::string(width + 2 - r.rule_id.size(), ' ');
    std::string action = r.action == "allow" ? colour::green(r.action, c) : colour::red(r.action, c);
    std::string count = r.hits > 0 ? colour::bold(std::to_string(r.hits), c) : colour::gray("0", c);
    lines.push_back("  " + padded + action + "  " + count + " hits  " + colour::gray(r.description, c));
  }
  auto denied = denied_requests(entries);
  if (!denied.empty()) {
    lines.push_back("");
    lines.push_back(colour::bold("Denied Requests (" + std::to_string(denied.size()) + "):", c));
    for (std::size_t i = 0; i < denied.size() && i < 20; ++i) {
      const auto& a = *denied[i];
      std::string ts = iso_time(a.entry.timestamp).substr(11, 12);
      lines.push_back("  " + colour::gray(ts, c) + "  " + colour::red(a.entry.domain, c) + "  " +
                      colour::gray("\u2192 " + a.matched_rule, c));
    }
    if (denied.size() > 20) lines.push_back(colour::gray("  ...and " + std::to_string(denied.size() - 20) + " more", c));
  }
  lines.push_back("");
  return join(lines);
}

}  // namespace awf::logs
