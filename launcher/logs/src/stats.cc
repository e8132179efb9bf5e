// Aggregation of log entries and awf's stats/summary formats.
#include "awf/logs/stats.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>

#include "awf/logs/format.h"
#include "awf/logs/json.h"

namespace awf::logs {

namespace {

bool parse_ipv4(std::string_view s, std::uint32_t& out) {
  out = 0;
  int parts = 0;
  while (parts < 4) {
    std::size_t len = 0;
    while (len < s.size() && len < 4 && s[len] >= '0' && s[len] <= '9') ++len;
    if (len == 0 || len > 3) return false;
    unsigned value = 0;
    std::from_chars(s.data(), s.data() + len, value);
    if (value > 255) return false;
    out = (out << 8) | value;
    s.remove_prefix(len);
    ++parts;
    if (parts < 4) {
      if (s.empty() || s.front() != '.') return false;
      s.remove_prefix(1);
    }
  }
  return s.empty();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string percent(std::size_t part, std::size_t total) {
  if (total == 0) return "0.0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(part) / static_cast<double>(total) * 100.0);
  return buf;
}

std::string pad_end(const std::string& s, std::size_t width) {
  // padEnd counts UTF-16 units; domains are ASCII in practice.
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::vector<DomainStats> valid_domains_by_total(const Stats& stats) {
  std::vector<DomainStats> out;
  for (const auto& d : stats.by_domain) {
    if (d.domain != "-") out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(), [](const DomainStats& a, const DomainStats& b) { return a.total > b.total; });
  return out;
}

std::vector<DnsRefusal> dns_refusals_by_lookups(const Stats& stats) {
  std::vector<DnsRefusal> out = stats.dns_refusals;
  std::stable_sort(out.begin(), out.end(), [](const DnsRefusal& a, const DnsRefusal& b) { return a.lookups > b.lookups; });
  return out;
}

std::string join(const std::vector<std::string>& lines, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += sep;
    out += lines[i];
  }
  return out;
}

}  // namespace

bool is_internal_domain(std::string_view domain, const std::set<std::string>& topology_peers) {
  // awf's network 172.30.0.0/24: its sidecars, never an external dependency.
  std::uint32_t ip = 0;
  if (parse_ipv4(domain, ip) && (ip & 0xFFFFFF00u) == 0xAC1E0000u) return true;
  if (!topology_peers.empty() && topology_peers.count(lower(domain))) return true;
  // Container-scoped names have no dot; every public host name has one.
  return !domain.empty() && domain != "-" && domain.find('.') == std::string_view::npos &&
         domain.find(':') == std::string_view::npos && domain.front() != '[';
}

Stats aggregate(const std::vector<LogEntry>& entries, const std::set<std::string>& topology_peers) {
  Stats s;
  std::map<std::string, std::size_t> index, dns_index;
  for (const auto& e : entries) {
    if (!s.time_range) {
      s.time_range = std::make_pair(e.timestamp, e.timestamp);
    } else {
      s.time_range->first = std::min(s.time_range->first, e.timestamp);
      s.time_range->second = std::max(s.time_range->second, e.timestamp);
    }
    if (is_aborted_transaction(e)) continue;
    std::string domain = e.domain.empty() ? "-" : e.domain;
    if (!e.is_allowed && is_internal_domain(domain, topology_peers)) continue;
    if (is_dns_refusal(e)) {
      auto [it, inserted] = dns_index.emplace(domain, s.dns_refusals.size());
      if (inserted) s.dns_refusals.push_back(DnsRefusal{domain, 0});
      const std::uint64_t lookups = e.repeated > 0 ? e.repeated : 1;
      s.dns_refusals[it->second].lookups += lookups;
      s.dns_refused_lookups += lookups;
      continue;
    }
    ++s.total_requests;
    if (e.is_allowed) {
      ++s.allowed_requests;
    } else {
      ++s.denied_requests;
    }
    auto [it, inserted] = index.emplace(domain, s.by_domain.size());
    if (inserted) s.by_domain.push_back(DomainStats{domain, 0, 0, 0});
    auto& d = s.by_domain[it->second];
    ++d.total;
    if (e.is_allowed) {
      ++d.allowed;
    } else {
      ++d.denied;
    }
  }
  s.unique_domains = s.by_domain.size();
  return s;
}

bool parse_stats_format(std::string_view text, StatsFormat& out, std::string& error) {
  return parse_format_name(
      text, {{"json", StatsFormat::json}, {"markdown", StatsFormat::markdown}, {"pretty", StatsFormat::pretty}}, out,
      error);
}

std::string format_stats_json(const Stats& stats) {
  boost::json::object by_domain;
  for (const auto& d : stats.by_domain) {
    boost::json::object o;
    o.emplace("allowed", d.allowed);
    o.emplace("denied", d.denied);
    o.emplace("total", d.total);
    by_domain.emplace(d.domain, std::move(o));
  }
  boost::json::object out;
  out.emplace("totalRequests", stats.total_requests);
  out.emplace("allowedRequests", stats.allowed_requests);
  out.emplace("deniedRequests", stats.denied_requests);
  out.emplace("uniqueDomains", stats.unique_domains);
  if (stats.time_range) {
    boost::json::object range;
    range.emplace("start", stats.time_range->first);
    range.emplace("end", stats.time_range->second);
    out.emplace("timeRange", std::move(range));
  } else {
    out.emplace("timeRange", nullptr);
  }
  out.emplace("byDomain", std::move(by_domain));
  if (!stats.dns_refusals.empty()) {
    boost::json::object by_name;
    for (const auto& r : stats.dns_refusals) by_name.emplace(r.name, r.lookups);
    boost::json::object dns;
    dns.emplace("names", stats.dns_refusals.size());
    dns.emplace("lookups", stats.dns_refused_lookups);
    dns.emplace("byName", std::move(by_name));
    out.emplace("dnsRefusals", std::move(dns));
  }
  if (stats.by_rule) {
    boost::json::array rules;
    for (const auto& r : *stats.by_rule) {
      boost::json::object o;
      o.emplace("ruleId", r.rule_id);
      o.emplace("description", r.description);
      o.emplace("action", r.action);
      o.emplace("hits", r.hits);
      rules.emplace_back(std::move(o));
    }
    out.emplace("byRule", std::move(rules));
  }
  return json::stringify(boost::json::value(std::move(out)), 2);
}

std::string format_stats_markdown(const Stats& stats) {
  std::vector<std::string> lines;
  const char* request_word = stats.total_requests == 1 ? "request" : "requests";
  const char* domain_word = stats.unique_domains == 1 ? "domain" : "domains";
  auto valid = valid_domains_by_total(stats);
  std::string domain_count = std::to_string(stats.unique_domains) + " unique " + domain_word;
  if (valid.size() != stats.unique_domains) domain_count += " (" + std::to_string(valid.size()) + " valid)";

  lines.push_back("<details>");
  lines.push_back("<summary>Firewall Activity</summary>\n");
  std::string refused;
  if (!stats.dns_refusals.empty()) {
    refused = " | " + std::to_string(stats.dns_refusals.size()) +
              (stats.dns_refusals.size() == 1 ? " name" : " names") + " refused by DNS";
  }
  lines.push_back("\u25bc " + std::to_string(stats.total_requests) + " " + request_word + " | " +
                  std::to_string(stats.allowed_requests) + " allowed | " + std::to_string(stats.denied_requests) +
                  " blocked | " + domain_count + refused + "\n");
  if (stats.unique_domains == 0 && !stats.dns_refusals.empty()) {
    // No request reached the proxy; the refusals below are the activity.
  } else if (stats.unique_domains > 0) {
    if (!valid.empty()) {
      lines.push_back("| Domain | Allowed | Denied |");
      lines.push_back("|--------|---------|--------|");
      for (const auto& d : valid) {
        lines.push_back("| " + d.domain + " | " + std::to_string(d.allowed) + " | " + std::to_string(d.denied) + " |");
      }
    } else {
      lines.push_back("No valid domain activity detected.");
    }
  } else {
    lines.push_back("No firewall activity detected.");
  }
  if (!stats.dns_refusals.empty()) {
    if (stats.unique_domains > 0) lines.push_back("");
    lines.push_back("| Refused by DNS | Lookups |");
    lines.push_back("|----------------|---------|");
    for (const auto& r : dns_refusals_by_lookups(stats)) {
      lines.push_back("| " + r.name + " | " + std::to_string(r.lookups) + " |");
    }
  }
  if (stats.by_rule && !stats.by_rule->empty()) {
    lines.push_back("");
    lines.push_back("<details>");
    lines.push_back("<summary>Policy Rules</summary>\n");
    lines.push_back("| Rule | Action | Hits | Description |");
    lines.push_back("|------|--------|------|-------------|");
    for (const auto& r : *stats.by_rule) {
      std::string icon = r.action == "allow" ? "\u2705" : "\U0001F6AB";
      lines.push_back("| " + r.rule_id + " | " + icon + " " + r.action + " | " + std::to_string(r.hits) + " | " +
                      r.description + " |");
    }
    lines.push_back("\n</details>");
  }
  lines.push_back("\n</details>\n");
  return join(lines, "\n");
}

std::string format_stats_pretty(const Stats& stats, bool c) {
  std::vector<std::string> lines;
  lines.push_back(colour::bold("Firewall Statistics", c));
  std::string rule;
  for (int i = 0; i < 40; ++i) rule += "\u2500";
  lines.push_back(colour::gray(rule, c));
  lines.push_back("");
  lines.push_back("Total Requests:  " + std::to_string(stats.total_requests));
  lines.push_back("Allowed:         " + colour::green(std::to_string(stats.allowed_requests), c) + " (" +
                  percent(stats.allowed_requests, stats.total_requests) + "%)");
  lines.push_back("Denied:          " + colour::red(std::to_string(stats.denied_requests), c) + " (" +
                  percent(stats.denied_requests, stats.total_requests) + "%)");
  lines.push_back("Unique Domains:  " + std::to_string(stats.unique_domains));
  if (!stats.dns_refusals.empty()) {
    lines.push_back("DNS Refusals:    " + colour::red(std::to_string(stats.dns_refused_lookups), c) +
                    (stats.dns_refused_lookups == 1 ? " lookup of " : " lookups of ") +
                    std::to_string(stats.dns_refusals.size()) + (stats.dns_refusals.size() == 1 ? " name" : " names"));
  }
  if (stats.time_range) {
    lines.push_back("");
    lines.push_back(colour::gray(
        "Time Range: " + iso_time(stats.time_range->first) + " - " + iso_time(stats.time_range->second), c));
  }
  if (stats.unique_domains > 0) {
    lines.push_back("");
    lines.push_back(colour::bold("Domains:", c));
    auto valid = valid_domains_by_total(stats);
    std::size_t width = 0;
    for (const auto& d : valid) width = std::max(width, d.domain.size());
    for (const auto& d : valid) {
      std::string allowed = colour::green(std::to_string(d.allowed) + " allowed", c);
      std::string denied_text = std::to_string(d.denied) + " denied";
      std::string denied = d.denied > 0 ? colour::red(denied_text, c) : colour::gray(denied_text, c);
      lines.push_back("  " + pad_end(d.domain, width + 2) + allowed + ", " + denied);
    }
  }
  if (!stats.dns_refusals.empty()) {
    lines.push_back("");
    lines.push_back(colour::bold("Refused by DNS:", c));
    const auto refusals = dns_refusals_by_lookups(stats);
    std::size_t width = 0;
    for (const auto& r : refusals) width = std::max(width, r.name.size());
    for (const auto& r : refusals) {
      lines.push_back("  " + pad_end(r.name, width + 2) +
                      colour::red(std::to_string(r.lookups) + (r.lookups == 1 ? " lookup" : " lookups"), c));
    }
  }
  if (stats.by_rule && !stats.by_rule->empty()) {
    lines.push_back(colour::bold("Policy Rules:", c));
    std::size_t width = 0;
    for (const auto& r : *stats.by_rule) width = std::max(width, r.rule_id.size());
    for (const auto& r : *stats.by_rule) {
      std::string action = r.action == "allow" ? colour::green(r.action, c) : colour::red(r.action, c);
      std::string hits = r.hits > 0 ? std::to_string(r.hits) : colour::gray("0", c);
      lines.push_back("  " + pad_end(r.rule_id, width + 2) + action + "  " + hits + " hits  " +
                      colour::gray(r.description, c));
    }
    lines.push_back("");
  }
  lines.push_back("");
  return join(lines, "\n");
}

std::string format_stats(const Stats& stats, StatsFormat format, bool colourise) {
  switch (format) {
    case StatsFormat::json: return format_stats_json(stats);
    case StatsFormat::markdown: return format_stats_markdown(stats);
    case StatsFormat::pretty: break;
  }
  return format_stats_pretty(stats, colourise);
}

}  // namespace awf::logs
