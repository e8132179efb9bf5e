// `awf logs stats` / `awf logs summary`: request counts per domain and per
// rule, in awf's json, markdown (GitHub step summary) and pretty shapes.
#pragma once

#include <cstdint>
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

// One name awf-proxy's DNS front end refused, and how often it was asked.
struct DnsRefusal {
  std::string name;
  std::uint64_t lookups = 0;  // refused queries (A, AAAA, retries, folded repeats)
};

// Requests are what reached the proxy's HTTP and TLS front ends. Refused DNS
// lookups are counted apart, per name: a client that asks A and AAAA and
// retries makes several for one attempt, and adding them to the denied
// requests made one denied name look like six blocked requests. Outputs
// without refusals are awf's, byte for byte; with some, each format adds
// one part (JSON `dnsRefusals`, a markdown table, a pretty section).
struct Stats {
  std::size_t total_requests = 0;
  std::size_t allowed_requests = 0;
  std::size_t denied_requests = 0;
  std::size_t unique_domains = 0;
  std::vector<DomainStats> by_domain;  // first-seen order
  std::vector<DnsRefusal> dns_refusals;  // first-seen order
  std::uint64_t dns_refused_lookups = 0;
  std::optional<std::pair<double, double>> time_range;  // over every entry, even skipped ones
  std::optional<std::vector<RuleHits>> by_rule;         // when a manifest was found
};

// True for destinations that are awf's own plumbing rather than a missing
// dependency: an IPv4 address in 172.30.0.0/24 (awf's network), a known
// topology peer (case-insensitive), or a single-label name (no dots, no
// colons, not `-`, not bracketed).
bool is_internal_domain(std::string_view domain, const std::set<std::string>& topology_peers = {});

// Aborted transactions are not requests; denied entries to internal domains
// are noise and are skipped too. DNS refusals go to dns_refusals.
Stats aggregate(const std::vector<LogEntry>& entries, const std::set<std::string>& topology_peers = {});

enum class StatsFormat { json, markdown, pretty };
// "json" | "markdown" | "pretty"; error `Invalid format: X. Must be one of: json, markdown, pretty`.
bool parse_stats_format(std::string_view text, StatsFormat& out, std::string& error);

std::string format_stats_json(const Stats& stats);       // JSON.stringify(.., null, 2)
std::string format_stats_markdown(const Stats& stats);
std::string format_stats_pretty(const Stats& stats, bool colourise);
std::string format_stats(const Stats& stats, StatsFormat format, bool colourise);

}  // namespace awf::logs
