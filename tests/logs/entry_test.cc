// Parsing of access.log and audit.jsonl lines.
#include "awf/logs/entry.h"

#include <gtest/gtest.h>

#include <cmath>

#include "awf/logs/format.h"
#include "awf/logs/json.h"

namespace awf::logs {
namespace {

TEST(AccessLogLine, AllowedConnectTunnelIsParsedFieldByField) {
  auto e = parse_access_log_line(
      "1761074374.646 172.30.0.20:39748 api.github.com:443 140.82.114.22:443 1.1 CONNECT 200 "
      "TCP_TUNNEL:HIER_DIRECT api.github.com:443 \"-\"");
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->timestamp, 1761074374.646);
  EXPECT_EQ(e->client_ip, "172.30.0.20");
  EXPECT_EQ(e->client_port, "39748");
  EXPECT_EQ(e->host, "api.github.com:443");
  EXPECT_EQ(e->dest_ip, "140.82.114.22");
  EXPECT_EQ(e->dest_port, "443");
  EXPECT_EQ(e->protocol, "1.1");
  EXPECT_EQ(e->method, "CONNECT");
  EXPECT_EQ(e->status_code, 200);
  EXPECT_EQ(e->decision, "TCP_TUNNEL:HIER_DIRECT");
  EXPECT_EQ(e->url, "api.github.com:443");
  EXPECT_EQ(e->user_agent, "-");
  EXPECT_EQ(e->domain, "api.github.com");
  EXPECT_TRUE(e->is_allowed);
  EXPECT_TRUE(e->is_https);
}

TEST(AccessLogLine, DeniedConnectOnOddPortKeepsDashDestination) {
  auto e = parse_access_log_line(
      "1760994429.358 172.30.0.20:36274 github.com:8443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE github.com:8443 "
      "\"curl/7.81.0\"");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dest_ip, "-");
  EXPECT_EQ(e->dest_port, "-");
  EXPECT_EQ(e->domain, "github.com");
  EXPECT_EQ(e->user_agent, "curl/7.81.0");
  EXPECT_FALSE(e->is_allowed);
}

TEST(AccessLogLine, PlainHttpTakesTheDomainFromTheHostHeader) {
  auto e = parse_access_log_line(
      "1760994429.358 172.30.0.20:36274 example.com:80 93.184.216.34:80 1.1 GET 200 TCP_MISS:HIER_DIRECT "
      "http://example.com/ \"Mozilla/5.0\"");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->domain, "example.com");
  EXPECT_TRUE(e->is_allowed);
  EXPECT_FALSE(e->is_https);
  EXPECT_EQ(e->user_agent, "Mozilla/5.0");
}

TEST(AccessLogLine, AbortedTransactionIsParsedAndRecognised) {
  auto e = parse_access_log_line(
      "1761074374.646 172.30.0.20:39748 -:0 -:- 1.1 NONE 0 NONE_NONE:HIER_NONE error:transaction-end-before-headers "
      "\"-\"");
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_aborted_transaction(*e));
  EXPECT_FALSE(e->is_allowed);
  EXPECT_EQ(e->status_code, 0);
}

TEST(AccessLogLine, UserAgentWithSpacesStaysWhole) {
  auto e = parse_access_log_line(
      "1.5 10.0.0.1:1 a.com:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL:HIER_DIRECT a.com:443 \"Mozilla/5.0 (X11; "
      "Linux)\"");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->user_agent, "Mozilla/5.0 (X11; Linux)");
}

TEST(AccessLogLine, MalformedLinesAreRejected) {
  struct Case {
    const char* why;
    const char* line;
  } cases[] = {
      {"empty", ""},
      {"timestamp without fraction", "1761074374 1.2.3.4:1 a 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a:443 \"-\""},
      {"client without port", "1.5 1.2.3.4 a 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a:443 \"-\""},
      {"non-numeric status", "1.5 1.2.3.4:1 a 1.2.3.4:443 1.1 CONNECT abc TCP_TUNNEL a:443 \"-\""},
      {"unquoted user agent", "1.5 1.2.3.4:1 a 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a:443 curl"},
      {"too few fields", "1.5 1.2.3.4:1 a 1.2.3.4:443"},
      {"IPv6 client (awf's parser cannot read it either)",
       "1.5 [::1]:1 a 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a:443 \"-\""},
  };
  for (const auto& c : cases) EXPECT_FALSE(parse_access_log_line(c.line)) << c.why;
}

TEST(AccessLogLine, TheReportsParserAlsoReadsIpv6ClientsAndDestinations) {
  // As awf-proxy writes it: the address bare, the port after the last colon.
  const char* line =
      "1.5 ::1:40000 %5B2001:db8::1%5D 2001:db8::5:80 1.1 GET 403 TCP_DENIED:HIER_NONE http://[2001:db8::1]/ \"-\"";
  EXPECT_FALSE(parse_access_log_line(line)) << "awf's parser, kept for awf logs";
  auto e = parse_access_log_line_any_client(line);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->client_ip, "::1");
  EXPECT_EQ(e->client_port, "40000");
  EXPECT_EQ(e->dest_ip, "2001:db8::5");
  EXPECT_EQ(e->dest_port, "80");
  EXPECT_FALSE(e->is_allowed);
  auto bracketed =
      parse_access_log_line_any_client("1.5 [::1]:40000 a [2001:db8::5]:443 1.1 CONNECT 200 TCP_TUNNEL a:443 \"-\"");
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(bracketed->client_ip, "::1");
  EXPECT_EQ(bracketed->dest_ip, "2001:db8::5");
  EXPECT_EQ(bracketed->dest_port, "443");
  auto v4 = parse_access_log_line_any_client("1.5 1.2.3.4:1 a -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE a:443 \"-\"");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->client_ip, "1.2.3.4");
  EXPECT_EQ(v4->dest_ip, "-");
  EXPECT_EQ(v4->dest_port, "-");
  for (const char* bad : {"1.5 [::1] a -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://a/ \"-\"",
                          "1.5 []:1 a -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://a/ \"-\"",
                          "1.5 [::1]:x a -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://a/ \"-\"",
                          "1.5 ::1: a -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://a/ \"-\""}) {
    EXPECT_FALSE(parse_access_log_line_any_client(bad)) << bad;
  }
}

TEST(AccessLogLine, DnsRefusalNamesTheQueriedHostAndAFoldedLineItsCount) {
  auto first = parse_access_log_line(
      "1764072000.123 127.0.0.1:40000 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE "
      "dns://exfil.denied.test/TXT \"-\"");
  ASSERT_TRUE(first);
  EXPECT_TRUE(is_dns_refusal(*first));
  EXPECT_EQ(first->domain, "exfil.denied.test");
  EXPECT_EQ(first->repeated, 0u);
  auto folded = parse_access_log_line(
      "1764072010.123 127.0.0.1:40001 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE "
      "dns://exfil.denied.test/TXT \"repeated 41 times\"");
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->repeated, 41u);
  auto odd = parse_access_log_line(
      "1.0 127.0.0.1:1 a.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://a.test/A \"repeated many times\"");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->repeated, 0u);
  auto http = parse_access_log_line(
      "1.0 127.0.0.1:1 a.test -:- 1.1 GET 403 TCP_DENIED:HIER_NONE http://a.test/ \"repeated 5 times\"");
  ASSERT_TRUE(http);
  EXPECT_FALSE(is_dns_refusal(*http));
  EXPECT_EQ(http->repeated, 0u) << "only DNS lines are folded; a user agent is just a user agent";
}

TEST(AuditJsonl, FoldedDnsRefusalCarriesItsCount) {
  auto e = parse_audit_jsonl_line(
      R"({"timestamp":"2025-11-25T12:00:10.123Z","event":"dns_refusal","client":"127.0.0.1","host":"x.test",)"
      R"("dest":"-:-","method":"DNS","status":403,"decision":"TCP_DENIED","url":"dns://x.test/A","repeated":7})");
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_dns_refusal(*e));
  EXPECT_EQ(e->domain, "x.test");
  EXPECT_EQ(e->repeated, 7u);
}

TEST(Decision, AllowedUnlessDeniedOrNone) {
  EXPECT_TRUE(is_allowed_decision("TCP_TUNNEL:HIER_DIRECT"));
  EXPECT_TRUE(is_allowed_decision("TCP_MISS:HIER_DIRECT"));
  EXPECT_TRUE(is_allowed_decision("TCP_HIT:HIER_NONE"));
  EXPECT_FALSE(is_allowed_decision("TCP_DENIED:HIER_NONE"));
  EXPECT_FALSE(is_allowed_decision("NONE_NONE:HIER_NONE"));
  EXPECT_FALSE(is_allowed_decision(""));
}

TEST(Domain, ExtractedPerAwfRules) {
  struct Case {
    const char* why;
    const char* url;
    const char* host;
    const char* method;
    const char* domain;
  } cases[] = {
      {"CONNECT strips a numeric port from the URL", "api.github.com:443", "x", "CONNECT", "api.github.com"},
      {"CONNECT keeps a non-numeric suffix", "weird:abc", "-", "CONNECT", "weird:abc"},
      {"CONNECT to an IPv6 literal strips the last port", "[2001:db8::1]:443", "-", "CONNECT", "[2001:db8::1]"},
      {"GET uses the Host header minus its port", "http://x/", "example.com:8080", "GET", "example.com"},
      {"GET without Host falls back to the URL's host", "http://Example.COM:8080/a", "-", "GET", "example.com"},
      {"a URL without scheme is read as http", "example.org/path", "-", "GET", "example.org"},
      {"empty Host falls back to the URL", "http://a.b/", "", "POST", "a.b"},
  };
  for (const auto& c : cases) EXPECT_EQ(extract_domain(c.url, c.host, c.method), c.domain) << c.why;
}

TEST(AuditJsonl, ReferenceLineIsParsed) {
  auto e = parse_audit_jsonl_line(
      R"({"_schema":"audit/v0.23.1","timestamp":"2025-10-21T19:19:34.646Z","event":"http_access","client":"172.30.0.20","host":"api.github.com:443","dest":"140.82.114.22:443","method":"CONNECT","status":200,"decision":"TCP_TUNNEL","url":"api.github.com:443"})");
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->timestamp, 1761074374.646);
  EXPECT_EQ(e->client_ip, "172.30.0.20");
  EXPECT_EQ(e->client_port, "-");
  EXPECT_EQ(e->protocol, "-");
  EXPECT_EQ(e->user_agent, "-");
  EXPECT_EQ(e->dest_ip, "140.82.114.22");
  EXPECT_EQ(e->dest_port, "443");
  EXPECT_EQ(e->domain, "api.github.com");
  EXPECT_EQ(e->status_code, 200);
  EXPECT_TRUE(e->is_allowed);
}

TEST(AuditJsonl, LegacyNumericTsAndBracketedIpv6Destination) {
  auto e = parse_audit_jsonl_line(
      R"({"ts":1761074376.5,"host":"example.com","dest":"[2606:2800:220:1::]:80","method":"GET","status":200,"decision":"TCP_MISS","url":"http://example.com/"})");
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->timestamp, 1761074376.5);
  EXPECT_EQ(e->dest_ip, "2606:2800:220:1::");
  EXPECT_EQ(e->dest_port, "80");
  EXPECT_EQ(e->client_ip, "-");
}

TEST(AuditJsonl, DeniedWithoutDestinationKeepsDashes) {
  auto e = parse_audit_jsonl_line(R"({"method":"CONNECT","decision":"TCP_DENIED","dest":"-:-","url":"evil.com:443"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dest_ip, "-");
  EXPECT_EQ(e->dest_port, "-");
  EXPECT_FALSE(e->is_allowed);
  EXPECT_EQ(e->domain, "evil.com");
}

TEST(AuditJsonl, UnescapedQuoteMakesTheLineUnreadable) {
  EXPECT_FALSE(parse_audit_jsonl_line(R"({"url":"http://a/"x"})"));
  EXPECT_FALSE(parse_audit_jsonl_line("[1,2]"));
}

TEST(LogText, SkipsBlankAndBrokenLinesAndCountsThem) {
  std::size_t skipped = 0;
  auto entries = parse_log_text(
      "\n1.5 1.2.3.4:1 a.com:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a.com:443 \"-\"\r\ngarbage\n   \n",
      LogFormat::access_log, &skipped);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(skipped, 1u);
}

TEST(IsoTime, FormatsLikeDateToIsoString) {
  EXPECT_EQ(iso_time(1761074374.646), "2025-10-21T19:19:34.646Z");
  EXPECT_EQ(iso_time(0), "1970-01-01T00:00:00.000Z");
  auto back = parse_iso_time("2025-10-21T19:19:34.646Z");
  ASSERT_TRUE(back);
  EXPECT_DOUBLE_EQ(*back, 1761074374.646);
  EXPECT_DOUBLE_EQ(*parse_iso_time("2025-10-21T21:19:34+02:00"), 1761074374.0);
  EXPECT_FALSE(parse_iso_time("yesterday"));
}

}  // namespace
}  // namespace awf::logs

namespace awf::logs {
namespace {

// Found by the log_line fuzz target (seeds access-huge-timestamp.log and
// audit-odd-values.jsonl in tests/logs/corpus/log_line): a timestamp or
// status no integer holds was converted anyway (undefined behaviour), and
// the pretty format assumed a four-digit year. Such lines now print the
// nearest instant a JavaScript Date can hold and status 0.
TEST(LogText, TimestampsAndStatusesBeyondAnyIntegerAreClamped) {
  const auto access = parse_access_log_line(std::string(40, '9') +
                                            ".5 1.2.3.4:1 h 5.6.7.8:80 1.1 GET 200 TCP_MISS:HIER_DIRECT http://h/ \"ua\"");
  ASSERT_TRUE(access.has_value());
  EXPECT_EQ(iso_time(access->timestamp), "275760-09-13T00:00:00.000Z");
  EXPECT_EQ(format_pretty(*access, false).substr(0, 29), "[275760-09-13 00:00:00.000] G");
  const auto audit = parse_audit_jsonl_line(R"({"timestamp":-1e300,"status":1e300,"method":"GET","url":"http://h/"})");
  ASSERT_TRUE(audit.has_value());
  EXPECT_EQ(audit->status_code, 0);
  EXPECT_EQ(iso_time(audit->timestamp), "-271821-04-20T00:00:00.000Z");
  EXPECT_EQ(iso_time(std::nan("")), "1970-01-01T00:00:00.000Z");
  EXPECT_FALSE(format_pretty(*audit, false).empty());
  EXPECT_EQ(json::integer_part(-2147483648.9), -2147483648);
  EXPECT_EQ(json::integer_part(2147483647.9), 2147483647);
  EXPECT_FALSE(json::integer_part(2147483648.0).has_value());
}

// Found with the log_line harness (seed audit-long-fraction.jsonl): a
// timestamp's fraction went through std::stod whole, and hundreds of digits
// underflowed, threw std::out_of_range and ended `awf logs`. Only the
// milliseconds are read now, as Date.parse keeps them.
TEST(IsoTime, AFractionOfAnyLengthIsCutToMilliseconds) {
  const std::string tiny = "2025-01-01T00:00:00." + std::string(400, '0') + "1Z";
  ASSERT_TRUE(parse_iso_time(tiny).has_value());
  EXPECT_EQ(*parse_iso_time(tiny), 1735689600.0);
  EXPECT_EQ(*parse_iso_time("2025-01-01T00:00:00.9999Z"), 1735689600.999);
  EXPECT_EQ(*parse_iso_time("2025-01-01T00:00:00.5Z"), 1735689600.5);
  EXPECT_EQ(*parse_iso_time("2025-01-01T00:00:00.05+01:00"), 1735686000.05);
  const auto entry = parse_audit_jsonl_line("{\"timestamp\":\"" + tiny + "\"}");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->timestamp, 1735689600.0);
}

}  // namespace
}  // namespace awf::logs
