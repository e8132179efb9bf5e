// `awf logs stats` / `awf logs summary`: request counts per domain and per
// rule, in awf's json, markdown (GitHub step summary) and pretty shapes.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "awf/logs/audit.h"
#include "awf/logs/entry.h"

namespace awf::logs {

struct DomainStats {
  std::string domain;
  std::size_t allowed = 0;
  std::size_t denied = 0;
  std::size_t total = 0;
};

struct Stats {
  std::size_t total_requests = 0;
  std::size_t allowed_requests = 0;
  std::size_t denied_requests = 0;
  std::size_t unique_domains = 0;
  std::vector<DomainStats> by_domain;  // first-seen order
  std::optional<std::pair<double, double>> time_range;  // over every entry, even skipped ones
  std::optional<std::vector<RuleHits>> by_rule;         // when a manifest was found
};

// True for destinations that are awf's own plumbing rather than a missing
// dependency: an IPv4 address in 172.30.0.0/24 (awf's network), a known
// topology peer (case-insensitive), or a single-label name (no dots, no
// colons, not `-`, not bracketed).
bool is_internal_domain(std::string_view domain, const std::set<std::string>& topology_peers = {});

// Aborted transactions are not requests; denied entries to internal domains
// are noise and are skipped too.
Stats aggregate(const std::vector<LogEntry>& entries, const std::set<std::string>& topology_peers = {});

enum class StatsFormat { json, markdown, pretty };
// "json" | "markdown" | "pretty"; error `Invalid format: X. Must be one of: json, markdown, pretty`.
bool parse_stats_format(std::string_view text, StatsFormat& out, std::string& error);

std::string format_stats_json(const Stats& stats);       // JSON.stringify(.., null, 2)
std::string format_stats_markdown(const Stats& stats);
std::string format_stats_pretty(const Stats& stats, bool colourise);
std::string format_stats(const Stats& stats, StatsFormat format, bool colourise);

}  // namespace awf::logs
