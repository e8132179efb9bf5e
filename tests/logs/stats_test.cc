// Aggregation and the stats/summary output shapes on fixtures/run1.
#include "awf/logs/stats.h"

#include <gtest/gtest.h>

#include "awf/logs/discovery.h"

namespace awf::logs {
namespace {

std::vector<LogEntry> run1() {
  LogSource s;
  s.path = std::string(AWF_LOGS_FIXTURES) + "/run1";
  return load_entries(s);
}

TEST(InternalDomain, AwfPlumbingIsRecognised) {
  struct Case {
    const char* why;
    const char* domain;
    bool internal;
  } cases[] = {
      {"an address on awf's network", "172.30.0.30", true},
      {"the network's last address", "172.30.0.255", true},
      {"outside the /24", "172.30.1.5", false},
      {"a public address", "140.82.114.22", false},
      {"a single-label container name", "awmg-mcpg", true},
      {"a dotted name", "api.github.com", false},
      {"the placeholder dash", "-", false},
      {"a bracketed IPv6 literal", "[::1]", false},
      {"a bare IPv6 literal", "::1", false},
      {"empty", "", false},
  };
  for (const auto& c : cases) EXPECT_EQ(is_internal_domain(c.domain), c.internal) << c.why;
  EXPECT_TRUE(is_internal_domain("mcp.gateway-01", {"mcp.gateway-01"})) << "a configured topology peer";
}

TEST(Aggregate, SkipsAbortedTransactionsAndInternalDenials) {
  auto s = aggregate(run1());
  EXPECT_EQ(s.total_requests, 6u);
  EXPECT_EQ(s.allowed_requests, 3u);
  EXPECT_EQ(s.denied_requests, 3u);
  EXPECT_EQ(s.unique_domains, 4u);
  ASSERT_TRUE(s.time_range);
  EXPECT_DOUBLE_EQ(s.time_range->first, 1760994429.358);
  EXPECT_DOUBLE_EQ(s.time_range->second, 1761074375.4);
  ASSERT_EQ(s.by_domain.size(), 4u);
  EXPECT_EQ(s.by_domain[0].domain, "api.github.com");  // first-seen order
  EXPECT_EQ(s.by_domain[3].domain, "evil.com");
}

TEST(Aggregate, NoEntriesGiveNullTimeRange) {
  auto s = aggregate({});
  EXPECT_FALSE(s.time_range);
  EXPECT_EQ(format_stats_json(s),
            "{\n  \"totalRequests\": 0,\n  \"allowedRequests\": 0,\n  \"deniedRequests\": 0,\n  \"uniqueDomains\": 0,\n"
            "  \"timeRange\": null,\n  \"byDomain\": {}\n}");
}

TEST(StatsFormat, MarkdownMatchesAwfSummaryShape) {
  EXPECT_EQ(format_stats_markdown(aggregate(run1())),
            "<details>\n"
            "<summary>Firewall Activity</summary>\n"
            "\n"
            "\u25bc 6 requests | 3 allowed | 3 blocked | 4 unique domains\n"
            "\n"
            "| Domain | Allowed | Denied |\n"
            "|--------|---------|--------|\n"
            "| api.github.com | 2 | 0 |\n"
            "| evil.com | 0 | 2 |\n"
            "| github.com | 0 | 1 |\n"
            "| example.com | 1 | 0 |\n"
            "\n"
            "</details>\n");
}

TEST(StatsFormat, MarkdownSingularAndEmptyWording) {
  EXPECT_EQ(format_stats_markdown(aggregate({})),
            "<details>\n<summary>Firewall Activity</summary>\n\n\u25bc 0 requests | 0 allowed | 0 blocked | 0 unique "
            "domains\n\nNo firewall activity detected.\n\n</details>\n");
  auto one = parse_access_log_line("1.5 1.2.3.4:1 a.com:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a.com:443 \"-\"");
  auto md = format_stats_markdown(aggregate({*one}));
  EXPECT_NE(md.find("\u25bc 1 request | 1 allowed | 0 blocked | 1 unique domain\n"), std::string::npos) << md;
}

TEST(StatsFormat, MarkdownCountsDashDomainAsInvalid) {
  auto e = parse_access_log_line("1.5 1.2.3.4:1 - -:- 1.1 GET 400 NONE_NONE:HIER_NONE - \"-\"");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->domain, "-");
  auto md = format_stats_markdown(aggregate({*e}));
  EXPECT_NE(md.find("1 unique domain (0 valid)\n\nNo valid domain activity detected."), std::string::npos) << md;
}

TEST(StatsFormat, MarkdownAddsPolicyRulesWhenKnown) {
  Stats s = aggregate({});
  s.by_rule = std::vector<RuleHits>{{"allow-both-plain", "Allow HTTP and HTTPS traffic to these domains", "allow", 2},
                                    {"deny-default", "Deny all", "deny", 1}};
  auto md = format_stats_markdown(s);
  EXPECT_NE(md.find("\n\n<details>\n<summary>Policy Rules</summary>\n\n| Rule | Action | Hits | Description |\n"
                    "|------|--------|------|-------------|\n"
                    "| allow-both-plain | \u2705 allow | 2 | Allow HTTP and HTTPS traffic to these domains |\n"
                    "| deny-default | \U0001F6AB deny | 1 | Deny all |\n\n</details>\n\n</details>\n"),
            std::string::npos)
      << md;
}

TEST(StatsFormat, JsonMatchesAwfShape) {
  EXPECT_EQ(format_stats_json(aggregate(run1())),
            "{\n"
            "  \"totalRequests\": 6,\n"
            "  \"allowedRequests\": 3,\n"
            "  \"deniedRequests\": 3,\n"
            "  \"uniqueDomains\": 4,\n"
            "  \"timeRange\": {\n"
            "    \"start\": 1760994429.358,\n"
            "    \"end\": 1761074375.4\n"
            "  },\n"
            "  \"byDomain\": {\n"
            "    \"api.github.com\": {\n      \"allowed\": 2,\n      \"denied\": 0,\n      \"total\": 2\n    },\n"
            "    \"github.com\": {\n      \"allowed\": 0,\n      \"denied\": 1,\n      \"total\": 1\n    },\n"
            "    \"example.com\": {\n      \"allowed\": 1,\n      \"denied\": 0,\n      \"total\": 1\n    },\n"
            "    \"evil.com\": {\n      \"allowed\": 0,\n      \"denied\": 2,\n      \"total\": 2\n    }\n"
            "  }\n"
            "}");
}

TEST(StatsFormat, PrettyMatchesAwfShapeWithoutColour) {
  EXPECT_EQ(format_stats_pretty(aggregate(run1()), false),
            "Firewall Statistics\n"
            "\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500"
            "\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500"
            "\u2500\u2500\u2500\u2500\n"
            "\n"
            "Total Requests:  6\n"
            "Allowed:         3 (50.0%)\n"
            "Denied:          3 (50.0%)\n"
            "Unique Domains:  4\n"
            "\n"
            "Time Range: 2025-10-20T21:07:09.358Z - 2025-10-21T19:19:35.400Z\n"
            "\n"
            "Domains:\n"
            "  api.github.com  2 allowed, 0 denied\n"
            "  evil.com        0 allowed, 2 denied\n"
            "  github.com      0 allowed, 1 denied\n"
            "  example.com     1 allowed, 0 denied\n");
}

// One curl to a denied name that ignores the proxy: its resolver asks A and
// AAAA, twice each, and awf-proxy folds three more A queries into one line.
std::vector<LogEntry> denied_name_lookups() {
  std::vector<LogEntry> out;
  for (const char* line : {
           "1.0 127.0.0.1:1 allowed.test 127.0.90.10:80 1.1 GET 200 TCP_MISS:HIER_DIRECT http://allowed.test/ \"-\"",
           "1.1 127.0.0.1:2 denied.test -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://denied.test/ \"-\"",
           "1.2 127.0.0.1:40000 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/A \"-\"",
           "1.2 127.0.0.1:40000 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/AAAA \"-\"",
           "1.3 127.0.0.1:40001 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/AAAA \"-\"",
           "1.4 127.0.0.1:40002 exfil.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://exfil.test/TXT \"-\"",
           "9.9 127.0.0.1:40003 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/A "
           "\"repeated 3 times\"",
       }) {
    auto e = parse_access_log_line(line);
    EXPECT_TRUE(e) << line;
    if (e) out.push_back(*e);
  }
  return out;
}

TEST(Aggregate, DnsRefusalsAreCountedApartFromRequests) {
  auto s = aggregate(denied_name_lookups());
  EXPECT_EQ(s.total_requests, 2u) << "lookups are not requests";
  EXPECT_EQ(s.denied_requests, 1u) << "one denied HTTP request, not seven";
  EXPECT_EQ(s.unique_domains, 2u);
  ASSERT_EQ(s.dns_refusals.size(), 2u);
  EXPECT_EQ(s.dns_refusals[0].name, "denied.test");
  EXPECT_EQ(s.dns_refusals[0].lookups, 6u) << "A, AAAA, AAAA and a summary line standing for 3";
  EXPECT_EQ(s.dns_refusals[1].name, "exfil.test");
  EXPECT_EQ(s.dns_refusals[1].lookups, 1u);
  EXPECT_EQ(s.dns_refused_lookups, 7u);
  ASSERT_TRUE(s.time_range);
  EXPECT_DOUBLE_EQ(s.time_range->second, 9.9);
}

TEST(StatsFormat, MarkdownListsDnsRefusalsInATableOfTheirOwn) {
  EXPECT_EQ(format_stats_markdown(aggregate(denied_name_lookups())),
            "<details>\n"
            "<summary>Firewall Activity</summary>\n"
            "\n"
            "\u25bc 2 requests | 1 allowed | 1 blocked | 2 unique domains | 2 names refused by DNS\n"
            "\n"
            "| Domain | Allowed | Denied |\n"
            "|--------|---------|--------|\n"
            "| allowed.test | 1 | 0 |\n"
            "| denied.test | 0 | 1 |\n"
            "\n"
            "| Refused by DNS | Lookups |\n"
            "|----------------|---------|\n"
            "| denied.test | 6 |\n"
            "| exfil.test | 1 |\n"
            "\n"
            "</details>\n");
}

TEST(StatsFormat, MarkdownWithOnlyDnsRefusalsIsNotNoActivity) {
  auto only_dns = denied_name_lookups();
  only_dns.erase(only_dns.begin(), only_dns.begin() + 2);
  EXPECT_EQ(format_stats_markdown(aggregate(only_dns)),
            "<details>\n<summary>Firewall Activity</summary>\n\n"
            "\u25bc 0 requests | 0 allowed | 0 blocked | 0 unique domains | 2 names refused by DNS\n\n"
            "| Refused by DNS | Lookups |\n|----------------|---------|\n| denied.test | 6 |\n| exfil.test | 1 |\n"
            "\n</details>\n");
}

TEST(StatsFormat, JsonAddsDnsRefusalsOnlyWhenThereAreSome) {
  const auto json = format_stats_json(aggregate(denied_name_lookups()));
  EXPECT_NE(json.find("  \"deniedRequests\": 1,\n"), std::string::npos) << json;
  EXPECT_NE(json.find("  \"dnsRefusals\": {\n"
                      "    \"names\": 2,\n"
                      "    \"lookups\": 7,\n"
                      "    \"byName\": {\n"
                      "      \"denied.test\": 6,\n"
                      "      \"exfil.test\": 1\n"
                      "    }\n"
                      "  }\n"
                      "}"),
            std::string::npos)
      << json;
  EXPECT_EQ(format_stats_json(aggregate(run1())).find("dnsRefusals"), std::string::npos) << "awf's shape otherwise";
}

TEST(StatsFormat, PrettyShowsDnsRefusalsAfterTheDomains) {
  const auto pretty = format_stats_pretty(aggregate(denied_name_lookups()), false);
  EXPECT_NE(pretty.find("Unique Domains:  2\nDNS Refusals:    7 lookups of 2 names\n"), std::string::npos) << pretty;
  EXPECT_NE(pretty.find("  denied.test   0 allowed, 1 denied\n"
                        "\n"
                        "Refused by DNS:\n"
                        "  denied.test  6 lookups\n"
                        "  exfil.test   1 lookup\n"),
            std::string::npos)
      << pretty;
}

TEST(StatsFormat, UnknownFormatNameIsRefusedWithAwfMessage) {
  StatsFormat f;
  std::string error;
  EXPECT_FALSE(parse_stats_format("raw", f, error));
  EXPECT_EQ(error, "Invalid format: raw. Must be one of: json, markdown, pretty");
}

}  // namespace
}  // namespace awf::logs
