// The post-run "Firewall blocked domains" report.
#include "awf/cli/blocked_report.h"

#include <gtest/gtest.h>

namespace awf::cli {
namespace {

std::vector<logs::LogEntry> entries(std::initializer_list<const char*> lines) {
  std::vector<logs::LogEntry> out;
  for (const char* l : lines) {
    // As the launcher reads access.log for the report: IPv6 clients too.
    auto e = logs::parse_access_log_line_any_client(l);
    EXPECT_TRUE(e) << l;
    if (e) out.push_back(*e);
  }
  return out;
}

const char* kDeniedEvil =
    "1.1 172.30.0.20:1 evil.com:443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE evil.com:443 \"curl/8\"";
const char* kDeniedPort =
    "1.2 172.30.0.20:1 github.com:8443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE github.com:8443 \"curl/8\"";
const char* kDeniedHttp =
    "1.3 172.30.0.20:1 secure.test -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://secure.test/ \"curl/8\"";
const char* kDeniedInternal =
    "1.4 172.30.0.20:1 awmg-mcpg:8080 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE awmg-mcpg:8080 \"-\"";
const char* kAllowed =
    "1.5 172.30.0.20:1 api.github.com:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL:HIER_DIRECT api.github.com:443 \"-\"";

TEST(BlockedTargets, UniqueDeniedExternalTargets) {
  auto t = blocked_targets(entries({kDeniedEvil, kAllowed, kDeniedEvil, kDeniedInternal, kDeniedPort, kDeniedHttp}));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].target, "evil.com:443");
  EXPECT_EQ(t[0].domain, "evil.com");
  EXPECT_EQ(*t[0].port, "443");
  EXPECT_EQ(t[1].target, "github.com:8443");
  EXPECT_EQ(t[2].target, "secure.test") << "plain HTTP uses the Host header";
  EXPECT_FALSE(t[2].port);
}

TEST(BlockedTargets, FullUrlInHostIsReduced) {
  auto t = blocked_targets(
      entries({"1.1 10.0.0.1:1 - -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://Example.org:8080/x \"-\""}));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].target, "example.org:8080");
}

TEST(BlockedReport, ReasonsAndFixHints) {
  auto lines = blocked_report_lines(blocked_targets(entries({kDeniedEvil, kDeniedPort, kDeniedHttp})),
                                    {"github.com", "https://secure.test"});
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "Firewall blocked domains:",
                       "  - Blocked: evil.com:443 (domain not in allowlist)",
                       "  - Blocked: github.com:8443 (port 8443 not allowed, only 80 and 443 are permitted)",
                       "  - Blocked: secure.test",
                       "Allowed domains:",
                       "  - Allowed: github.com",
                       "  - Allowed: https://secure.test",
                       "To fix domain issues: --allow-domains \"github.com,https://secure.test,evil.com\"",
                       "To fix port issues: Use standard ports 80 (HTTP) or 443 (HTTPS)",
                   }));
}

TEST(BlockedReport, ProtocolMismatchOnPort80) {
  auto lines = blocked_report_lines(
      blocked_targets(entries({"1.1 10.0.0.1:1 secure.test:80 -:- 1.1 GET 403 TCP_DENIED:HIER_NONE "
                               "http://secure.test/ \"-\""})),
      {"https://secure.test"});
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[1], "  - Blocked: secure.test:80 (protocol not allowed by allowlist entry)");
  EXPECT_EQ(lines.back(),
            "To fix protocol issues: add an allowlist entry for the correct protocol (http://domain or https://domain), "
            "or allow both by using the bare domain");
}

TEST(BlockedReport, WildcardEntriesMatch) {
  auto lines =
      blocked_report_lines(blocked_targets(entries({kDeniedPort})), {"*.github.com", "github.com"});
  EXPECT_EQ(lines[1], "  - Blocked: github.com:8443 (port 8443 not allowed, only 80 and 443 are permitted)");
}

TEST(BlockedReport, PrintedWheneverRequestsWereDeniedWhateverTheExitCode) {
  // The report no longer depends on the exit code: a command that exits 0
  // after a denied request gets it too (awf stays silent then).
  EXPECT_EQ(post_run_blocked_report(entries({kAllowed}), {"github.com"}), "");
  EXPECT_EQ(post_run_blocked_report({}, {"github.com"}), "");
  EXPECT_EQ(post_run_blocked_report(entries({kDeniedEvil}), {"github.com"}),
            "[WARN] Firewall blocked domains:\n"
            "[WARN]   - Blocked: evil.com:443 (domain not in allowlist)\n"
            "[WARN] Allowed domains:\n"
            "[WARN]   - Allowed: github.com\n"
            "[WARN] To fix domain issues: --allow-domains \"github.com,evil.com\"\n");
}

TEST(BlockedReport, ARefusedDnsLookupNamesTheDomain) {
  auto lines = blocked_report_lines(
      blocked_targets(entries({"1.1 127.0.0.1:40000 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE "
                               "dns://exfil.denied.test/A \"-\"",
                               "1.2 127.0.0.1:40000 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE "
                               "dns://exfil.denied.test/AAAA \"-\""})),
      {"github.com"});
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[1], "  - Blocked: exfil.denied.test (domain not in allowlist)");
  EXPECT_EQ(lines[2], "Allowed domains:") << "the A and AAAA refusals are one target";
}

TEST(BlockedReport, AddressesAreListedApartAndLeftOutOfTheAllowDomainsHint) {
  auto lines = blocked_report_lines(
      blocked_targets(entries(
          {"1.1 127.0.0.1:40000 127.0.94.10 127.0.94.10:80 1.1 GET 403 TCP_DENIED:HIER_NONE http://127.0.94.10/ \"-\"",
           kDeniedHttp,
           // As awf-proxy writes them: the client's IPv6 address bare, the
           // Host URL-escaped.
           "1.2 ::1:40000 %5B2001:db8::1%5D -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://[2001:db8::1]/ \"-\"",
           "1.3 ::1:40001 %5B2001:db8::2%5D:443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE [2001:db8::2]:443 \"-\"",
           "1.4 127.0.0.1:40000 0x7f.1:8080 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE 0x7f.1:8080 \"-\""})),
      {"github.com"});
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "Firewall blocked domains:",
                       "  - Blocked: secure.test (domain not in allowlist)",
                       kIpAddressesRefused,
                       "  - 127.0.94.10",
                       "  - [2001:db8::1]",
                       "  - [2001:db8::2]:443",
                       "  - 0x7f.1:8080",
                       "Allowed domains:",
                       "  - Allowed: github.com",
                       "To fix domain issues: --allow-domains \"github.com,secure.test\"",
                   }));
}

TEST(BlockedReport, OnlyAddressesRefusedGiveNoDomainsListAndNoHint) {
  EXPECT_EQ(post_run_blocked_report(
                entries({"1.1 127.0.0.1:40000 127.0.94.10 127.0.94.10:80 1.1 GET 403 TCP_DENIED:HIER_NONE "
                         "http://127.0.94.10/ \"-\""}),
                {"github.com"}),
            std::string("[WARN] ") + kIpAddressesRefused +
                "\n"
                "[WARN]   - 127.0.94.10\n"
                "[WARN] Allowed domains:\n"
                "[WARN]   - Allowed: github.com\n");
}

TEST(Completion, SuccessOrExitCode) {
  EXPECT_EQ(completion_message(0), "[SUCCESS] Command completed successfully");
  EXPECT_EQ(completion_message(42), "[WARN] Command completed with exit code: 42");
}

}  // namespace
}  // namespace awf::cli
