// policy-manifest.json generation and `awf logs audit` rule attribution.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "awf/logs/audit.h"
#include "awf/logs/discovery.h"
#include "awf/logs/manifest.h"

namespace awf::logs {
namespace {

std::string fixture(const std::string& rel) {
  std::ifstream in(std::string(AWF_LOGS_FIXTURES) + "/" + rel);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PolicyManifest run1_manifest() {
  policy::PolicySpec spec;
  spec.allow = {"github.com", "http://example.com"};
  spec.block = {"evil.com"};
  ManifestSettings settings;
  settings.dns_servers = {"8.8.8.8", "8.8.4.4"};
  settings.generated_at = "2025-10-21T19:19:30.000Z";
  return make_policy_manifest(spec, settings);
}

std::vector<std::string> ids(const PolicyManifest& m) {
  std::vector<std::string> out;
  for (const auto& r : m.rules) out.push_back(r.id);
  return out;
}

TEST(Manifest, FixtureIsWhatWeGenerateForTheRun1Policy) {
  EXPECT_EQ(manifest_to_text(run1_manifest()), fixture("run1/policy-manifest.json"));
}

TEST(Manifest, RulesFollowAwfOrder) {
  policy::PolicySpec spec;
  spec.allow = {"github.com", "*.example.org", "http://plain.test", "https://secure.test", "https://*.api.test",
                "http://*.old.test", "93.184.216.34"};
  spec.block = {"bad.github.com", "*.evil.test"};
  ManifestSettings settings;
  settings.dlp_enabled = true;
  auto m = make_policy_manifest(spec, settings);
  EXPECT_EQ(ids(m), (std::vector<std::string>{"deny-unsafe-ports", "deny-connect-unsafe-ports", "allow-ip-93-184-216-34",
                                              "deny-raw-ipv4", "deny-raw-ipv6", "deny-dlp", "deny-blocked-plain",
                                              "deny-blocked-regex", "allow-http-only-plain", "allow-http-only-regex",
                                              "allow-https-only-plain", "allow-https-only-regex", "allow-both-plain",
                                              "allow-both-regex", "deny-default"}));
  for (std::size_t i = 0; i < m.rules.size(); ++i) EXPECT_EQ(m.rules[i].order, static_cast<int>(i) + 1);
  EXPECT_EQ(m.rules[2].acl_name, "allow_ip_93_184_216_34");
  EXPECT_EQ(m.rules[7].domains, (std::vector<std::string>{"^[a-zA-Z0-9.-]*\\.evil\\.test$"}));
  EXPECT_EQ(m.rules[12].domains, (std::vector<std::string>{".github.com", ".93.184.216.34"}));
}

TEST(Manifest, RedundantEntriesArePrunedAsAwfDoes) {
  struct Case {
    const char* why;
    std::vector<std::string> allow;
    std::vector<std::string> both_plain;
  } cases[] = {
      {"a subdomain under a parent", {"github.com", "api.github.com"}, {".github.com"}},
      {"a leading-dot twin", {"github.com", ".github.com"}, {".github.com"}},
      {"identical text is kept once", {"github.com", "github.com/"}, {".github.com"}},
      {"covered by a both-scope pattern", {"*.github.com", "api.github.com"}, {}},
      {"not covered by an https-only pattern", {"https://*.github.com", "api.github.com"}, {".api.github.com"}},
  };
  for (const auto& c : cases) {
    policy::PolicySpec spec;
    spec.allow = c.allow;
    auto m = make_policy_manifest(spec, {});
    std::vector<std::string> got;
    for (const auto& r : m.rules) {
      if (r.id == "allow-both-plain") got = r.domains;
    }
    EXPECT_EQ(got, c.both_plain) << c.why;
  }
}

TEST(Manifest, WildcardRegexEscapesMetacharacters) {
  EXPECT_EQ(wildcard_to_regex("*.github.com"), "^[a-zA-Z0-9.-]*\\.github\\.com$");
  EXPECT_EQ(wildcard_to_regex("api-*.a+b.com"), "^api-[a-zA-Z0-9.-]*\\.a\\+b\\.com$");
}

TEST(Wildcard, MatchesLikeAwfsRegex) {
  struct Case {
    const char* why;
    const char* pattern;
    const char* host;
    bool match;
  } cases[] = {
      {"a subdomain", "*.github.com", "api.github.com", true},
      {"a deeper subdomain: the star spans dots", "*.github.com", "a.b.github.com", true},
      {"not the bare domain", "*.github.com", "github.com", false},
      {"case-insensitive", "*.GitHub.com", "API.github.COM", true},
      {"the star may be empty", "api-*.example.com", "api-.example.com", true},
      {"a middle star", "api-*.example.com", "api-v2.example.com", true},
      {"the star never takes other characters", "a*b.com", "a_b.com", false},
      {"a suffix must match fully", "*.github.com", "api.github.com.evil.com", false},
      {"two stars", "*.*.example.com", "a.b.example.com", true},
  };
  for (const auto& c : cases) EXPECT_EQ(wildcard_matches(c.pattern, c.host), c.match) << c.why;
}

TEST(Manifest, RoundTripsThroughJson) {
  auto m = run1_manifest();
  auto parsed = json::parse_value(manifest_to_text(m));
  ASSERT_TRUE(parsed.ok());
  auto back = manifest_from_json(*parsed);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(manifest_to_text(*back), manifest_to_text(m));
}

std::vector<AuditedEntry> audit_run1() {
  LogSource s;
  s.path = std::string(AWF_LOGS_FIXTURES) + "/run1";
  return audit_entries(load_entries(s), run1_manifest());
}

TEST(Audit, EachEntryIsAttributedToTheRuleThatDecidedIt) {
  auto audited = audit_run1();
  ASSERT_EQ(audited.size(), 8u);
  struct Case {
    const char* why;
    std::size_t index;
    const char* rule;
  } cases[] = {
      {"an allowed subdomain of an allowed domain", 0, "allow-both-plain"},
      {"an allowed domain on a forbidden port falls to the default deny", 1, "deny-default"},
      {"plain HTTP to an http-only entry", 2, "allow-http-only-plain"},
      {"a blocklisted domain", 4, "deny-blocked-plain"},
      {"an internal container name", 6, "deny-default"},
  };
  for (const auto& c : cases) EXPECT_EQ(audited[c.index].matched_rule, c.rule) << c.why;
  EXPECT_EQ(audited[4].match_reason, "Deny requests to explicitly blocked domains");
}

TEST(Audit, UnmatchedAllowedEntryIsUnknown) {
  auto e = parse_access_log_line("1.5 1.2.3.4:1 x.test:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL x.test:443 \"-\"");
  auto audited = audit_entries({*e}, run1_manifest());
  EXPECT_EQ(audited[0].matched_rule, "unknown");
  EXPECT_EQ(audited[0].match_reason, "Allowed (rule not identified)");
}

TEST(Audit, RawIpDenialIsAttributedToTheRawIpRule) {
  auto e = parse_access_log_line("1.5 1.2.3.4:1 1.2.3.4:443 -:- 1.1 CONNECT 403 TCP_DENIED 1.2.3.4:443 \"-\"");
  EXPECT_EQ(audit_entries({*e}, run1_manifest())[0].matched_rule, "deny-raw-ipv4");
}

TEST(Audit, HitsPerRuleSkipAbortedTransactions) {
  auto hits = rule_hits(audit_run1(), run1_manifest());
  std::map<std::string, std::size_t> by_id;
  for (const auto& h : hits) by_id[h.rule_id] = h.hits;
  EXPECT_EQ(by_id["allow-both-plain"], 2u);
  EXPECT_EQ(by_id["allow-http-only-plain"], 1u);
  EXPECT_EQ(by_id["deny-blocked-plain"], 2u);
  EXPECT_EQ(by_id["deny-default"], 2u);
  EXPECT_EQ(by_id["deny-unsafe-ports"], 0u);
  EXPECT_EQ(hits.size(), run1_manifest().rules.size());
}

TEST(Audit, JsonLinesAfterFiltering) {
  auto denied = filter_audited(audit_run1(), AuditFilter{"", "EVIL", "denied"});
  EXPECT_EQ(format_audit_json(denied),
            R"({"timestamp":1761074375.1,"domain":"evil.com","method":"CONNECT","status":403,"decision":"denied",)"
            R"("matchedRule":"deny-blocked-plain","matchReason":"Deny requests to explicitly blocked domains",)"
            R"("url":"evil.com:443"})"
            "\n"
            R"({"timestamp":1761074375.4,"domain":"evil.com","method":"CONNECT","status":403,"decision":"denied",)"
            R"("matchedRule":"deny-blocked-plain","matchReason":"Deny requests to explicitly blocked domains",)"
            R"("url":"evil.com:443"})");
  EXPECT_EQ(filter_audited(audit_run1(), AuditFilter{"allow-http-only-plain", "", ""}).size(), 1u);
  EXPECT_EQ(filter_audited(audit_run1(), AuditFilter{"", "", "allowed"}).size(), 3u);
  EXPECT_EQ(filter_audited(audit_run1(), AuditFilter{}).size(), 7u) << "the aborted transaction is dropped";
}

TEST(Audit, MarkdownReportShape) {
  auto m = run1_manifest();
  auto md = format_audit_markdown(filter_audited(audit_run1(), {}), m);
  EXPECT_EQ(md.substr(0, md.find("### Rule Evaluation")),
            "## Firewall Audit Report\n\n### Active Policy\n\n- **SSL Bump**: disabled\n- **DLP**: disabled\n"
            "- **Host Access**: disabled\n- **DNS Servers**: 8.8.8.8, 8.8.4.4\n- **Dangerous Ports Blocked**: 21 ports\n\n");
  EXPECT_NE(md.find("| deny-blocked-plain | \U0001F6AB deny | **2** | Deny requests to explicitly blocked domains |"),
            std::string::npos);
  EXPECT_NE(md.find("| deny-unsafe-ports | \U0001F6AB deny | 0 |"), std::string::npos);
  EXPECT_NE(md.find("\n\n### Denied Requests\n\n| Timestamp | Domain | Rule | Reason |\n"
                    "|-----------|--------|------|--------|\n"
                    "| 2025-10-20T21:07:09.358Z | github.com | deny-default | Deny all traffic not matching any allow "
                    "rule (default deny) |\n"),
            std::string::npos)
      << md;
}

TEST(Audit, PrettyReportShape) {
  auto pretty = format_audit_pretty(filter_audited(audit_run1(), {}), run1_manifest(), false);
  EXPECT_EQ(pretty.substr(0, pretty.find('\n')), "Firewall Audit Report");
  EXPECT_NE(pretty.find("\nRule Evaluation:\n  deny-unsafe-ports          deny  0 hits  Deny requests to ports not in "
                        "Safe_ports ACL"),
            std::string::npos)
      << pretty;
  EXPECT_NE(pretty.find("\nDenied Requests (4):\n  21:07:09.358  github.com  \u2192 deny-default\n"), std::string::npos)
      << pretty;
}

}  // namespace
}  // namespace awf::logs
