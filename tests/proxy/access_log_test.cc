// Unit tests of the access-log formats: awf's firewall_detailed line, the
// audit.jsonl object and Squid's native line.
#include <gtest/gtest.h>

#include <algorithm>

#include "awf/proxy/access_log.h"
#include "log_record_sample.h"

using namespace awf::proxy;

namespace {

using awf::proxy_test::tunnel_record;

TEST(AccessLogFormat, FirewallDetailedMatchesReferenceExample) {
  EXPECT_EQ(format_firewall_detailed(tunnel_record()),
            "1761074374.646 172.30.0.20:39748 api.github.com:443 140.82.114.22:443 1.1 CONNECT 200 "
            "TCP_TUNNEL:HIER_DIRECT api.github.com:443 \"-\"");
}

TEST(AccessLogFormat, DeniedLineHasNoDestination) {
  LogRecord r = tunnel_record();
  r.host = "github.com:8443";
  r.dest = "-:-";
  r.status = 403;
  r.code = ResultCode::tcp_denied;
  r.hierarchy = Hierarchy::none;
  r.url = "github.com:8443";
  r.user_agent = "curl/7.81.0";
  EXPECT_EQ(format_firewall_detailed(r),
            "1761074374.646 172.30.0.20:39748 github.com:8443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE "
            "github.com:8443 \"curl/7.81.0\"");
}

// Squid backslash-escapes quotes and backslashes of the User-Agent and
// leaves the rest raw; control bytes (raw in Squid) become \xHH.
TEST(AccessLogFormat, UserAgentQuotesAreBackslashEscaped) {
  LogRecord r = tunnel_record();
  r.user_agent = "a \"b\" \\c 100% [d]\x1b\n";
  std::string line = format_firewall_detailed(r);
  EXPECT_EQ(line.substr(line.find('"')), "\"a \\\"b\\\" \\\\c 100% [d]\\x1B\\x0A\"");
}

// Squid's %{Host}>h escapes IPv6 brackets (%5B::1%5D:443) in the text log
// only; the URL is written as sent, its %-escapes untouched.
TEST(AccessLogFormat, HostBracketsAreEscapedAndUrlIsRaw) {
  LogRecord r = tunnel_record();
  r.host = "[::1]:443";
  r.url = "http://[::1]:443/a%20b?";
  r.method = "GET";
  EXPECT_EQ(format_firewall_detailed(r),
            "1761074374.646 172.30.0.20:39748 %5B::1%5D:443 140.82.114.22:443 1.1 GET 200 "
            "TCP_TUNNEL:HIER_DIRECT http://[::1]:443/a%20b? \"-\"");
  EXPECT_NE(format_audit_jsonl(r, "1").find("\"host\":\"[::1]:443\""), std::string::npos);
}

// Fields outside quotes never carry a space or control byte: they would
// shift every later field for a parser splitting on spaces.
TEST(AccessLogFormat, UnquotedFieldsCannotBeSplit) {
  LogRecord r = tunnel_record();
  r.url = "http://a/b c\td";
  r.method = "G T";
  std::string line = format_firewall_detailed(r);
  EXPECT_NE(line.find(" G%20T "), std::string::npos) << line;
  EXPECT_NE(line.find(" http://a/b%20c%09d "), std::string::npos) << line;
}

TEST(AccessLogFormat, AuditJsonMatchesReferenceExample) {
  EXPECT_EQ(format_audit_jsonl(tunnel_record(), "0.23.1"),
            "{\"_schema\":\"audit/v0.23.1\",\"timestamp\":\"2025-10-21T19:19:34.646Z\",\"event\":\"http_access\","
            "\"client\":\"172.30.0.20\",\"host\":\"api.github.com:443\",\"dest\":\"140.82.114.22:443\","
            "\"method\":\"CONNECT\",\"status\":200,\"decision\":\"TCP_TUNNEL\",\"url\":\"api.github.com:443\"}");
}

// A SOCKS line: the text formats keep their fields (the version is "-"),
// audit.jsonl names the listener.
TEST(AccessLogFormat, ASocksTunnelIsMarkedOnlyInTheAuditRecord) {
  LogRecord r = tunnel_record();
  const std::string http_line = format_firewall_detailed(r);
  r.via_socks = true;
  r.version = "-";
  const std::string socks_line = format_firewall_detailed(r);
  EXPECT_EQ(std::count(socks_line.begin(), socks_line.end(), ' '), std::count(http_line.begin(), http_line.end(), ' '));
  EXPECT_NE(socks_line.find(" - CONNECT 200 TCP_TUNNEL:HIER_DIRECT api.github.com:443 "), std::string::npos)
      << socks_line;
  const std::string audit = format_audit_jsonl(r, "0.23.1");
  EXPECT_NE(audit.find(",\"listener\":\"socks\""), std::string::npos) << audit;
  EXPECT_EQ(format_audit_jsonl(tunnel_record(), "0.23.1").find("listener"), std::string::npos);
}

// Times in both formats, across second and day boundaries and with small
// millisecond parts (the date part is cached per second).
TEST(AccessLogFormat, TimesAreRightAcrossSecondsAndDays) {
  LogRecord r = tunnel_record();
  auto at = [&](long long ms) {
    r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    std::string text = format_firewall_detailed(r);
    std::string json = format_audit_jsonl(r, "1");
    const auto ts = json.find("\"timestamp\":\"") + 13;
    return text.substr(0, text.find(' ')) + " " + json.substr(ts, json.find('"', ts) - ts);
  };
  EXPECT_EQ(at(1761074374646), "1761074374.646 2025-10-21T19:19:34.646Z");
  EXPECT_EQ(at(1761074374999), "1761074374.999 2025-10-21T19:19:34.999Z");
  EXPECT_EQ(at(1761074375005), "1761074375.005 2025-10-21T19:19:35.005Z");
  EXPECT_EQ(at(1761091199999), "1761091199.999 2025-10-21T23:59:59.999Z");
  EXPECT_EQ(at(1761091200000), "1761091200.000 2025-10-22T00:00:00.000Z");
  EXPECT_EQ(at(1761074374646), "1761074374.646 2025-10-21T19:19:34.646Z");  // back again
}

TEST(AccessLogFormat, JsonEscapesControlAndQuotes) {
  EXPECT_EQ(json_escape("a\"b\\c\x01\n"), "a\\\"b\\\\c\\u0001\\n");
}

// A strict JSON reader refuses a line that is not UTF-8, and a client picks
// the bytes of an intercepted Host: well-formed UTF-8 passes unchanged, each
// other byte becomes \ufffd (overlong forms, surrogates, beyond U+10FFFF,
// cut-off sequences and stray continuation bytes included).
TEST(AccessLogFormat, JsonIsValidUtf8WhateverTheBytes) {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},  // é € 😀
      {"a\xff" "b", "a\\ufffdb"},
      {"\xc0\xaf", "\\ufffd\\ufffd"},                   // overlong '/'
      {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},           // overlong, three bytes
      {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},           // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
      {"x\xe2\x82", "x\\ufffd\\ufffd"},                 // cut off at the end
      {"\x80\xbf", "\\ufffd\\ufffd"},                   // continuation bytes alone
      {"\x7f", "\\u007f"},
  };
  for (const auto& c : cases) EXPECT_EQ(json_escape(c.in), c.out) << c.in;
  LogRecord r = tunnel_record();
  r.host = "web\xff.test:80";
  const std::string line = format_audit_jsonl(r, "1.0");
  EXPECT_NE(line.find("\"host\":\"web\\ufffd.test:80\""), std::string::npos) << line;
  for (unsigned char c : line) EXPECT_LT(c, 0x80) << line;  // this record is all ASCII once escaped
}

// A transfer cut short carries Squid's error tags in every format.
TEST(AccessLogFormat, ATransferCutShortIsTaggedAbortedOrTimedOut) {
  LogRecord r = tunnel_record();
  r.method = "GET";
  r.url = "http://api.github.com/x";
  r.code = ResultCode::tcp_miss;
  r.aborted = true;
  EXPECT_NE(format_firewall_detailed(r).find(" 200 TCP_MISS_ABORTED:HIER_DIRECT "), std::string::npos)
      << format_firewall_detailed(r);
  EXPECT_NE(format_squid_native(r).find(" TCP_MISS_ABORTED/200 4567 GET "), std::string::npos) << format_squid_native(r);
  EXPECT_NE(format_audit_jsonl(r, "1").find("\"decision\":\"TCP_MISS_ABORTED\""), std::string::npos);
  r.timed_out = true;
  EXPECT_NE(format_squid_native(r).find(" TCP_MISS_TIMEDOUT_ABORTED/200 "), std::string::npos) << format_squid_native(r);
}

TEST(AccessLogFormat, SquidNativeLine) {
  EXPECT_EQ(format_squid_native(tunnel_record()),
            "1761074374.646   1234 172.30.0.20 TCP_TUNNEL/200 4567 CONNECT api.github.com:443 - "
            "HIER_DIRECT/140.82.114.22 -");
}

}  // namespace
