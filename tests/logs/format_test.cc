// Pretty and JSON rendering of single entries for `awf logs`.
#include "awf/logs/format.h"

#include <gtest/gtest.h>

namespace awf::logs {
namespace {

LogEntry line(const char* text) {
  auto e = parse_access_log_line(text);
  EXPECT_TRUE(e) << text;
  return e.value_or(LogEntry{});
}

TEST(Pretty, AllowedConnectHidesPort443AndDashUserAgent) {
  auto e = line(
      "1761074374.646 172.30.0.20:39748 api.github.com:443 140.82.114.22:443 1.1 CONNECT 200 "
      "TCP_TUNNEL:HIER_DIRECT api.github.com:443 \"-\"");
  EXPECT_EQ(format_pretty(e, false), "[2025-10-21 19:19:34.646] CONNECT api.github.com \u2192 200 (ALLOWED)");
}

TEST(Pretty, DeniedOddPortShowsPortAndUserAgent) {
  auto e = line(
      "1760994429.358 172.30.0.20:36274 github.com:8443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE github.com:8443 "
      "\"curl/7.81.0\"");
  EXPECT_EQ(format_pretty(e, false), "[2025-10-20 21:07:09.358] CONNECT github.com:8443 \u2192 403 (DENIED) [curl/7.81.0]");
}

TEST(Pretty, PlainHttpOnPort80HidesThePort) {
  auto e = line(
      "1760994429.358 172.30.0.20:36274 example.com:80 93.184.216.34:80 1.1 GET 200 TCP_MISS:HIER_DIRECT "
      "http://example.com/ \"Mozilla/5.0\"");
  EXPECT_EQ(format_pretty(e, false), "[2025-10-20 21:07:09.358] GET example.com \u2192 200 (ALLOWED) [Mozilla/5.0]");
}

TEST(Pretty, ColoursGreenForAllowedAndRedForDenied) {
  auto ok = line("1.5 1.2.3.4:1 a.com:443 1.2.3.4:443 1.1 CONNECT 200 TCP_TUNNEL a.com:443 \"-\"");
  auto denied = line("1.5 1.2.3.4:1 a.com:443 -:- 1.1 CONNECT 403 TCP_DENIED a.com:443 \"-\"");
  EXPECT_EQ(format_pretty(ok, true).substr(0, 5), "\x1b[32m");
  EXPECT_EQ(format_pretty(denied, true).substr(0, 5), "\x1b[31m");
}

TEST(Json, KeysInAwfOrder) {
  auto e = line(
      "1760994429.358 172.30.0.20:36274 github.com:8443 -:- 1.1 CONNECT 403 TCP_DENIED:HIER_NONE github.com:8443 "
      "\"curl/7.81.0\"");
  EXPECT_EQ(format_json(e),
            R"({"timestamp":1760994429.358,"clientIp":"172.30.0.20","clientPort":"36274","host":"github.com:8443",)"
            R"("destIp":"-","destPort":"-","protocol":"1.1","method":"CONNECT","statusCode":403,)"
            R"("decision":"TCP_DENIED:HIER_NONE","url":"github.com:8443","userAgent":"curl/7.81.0",)"
            R"("domain":"github.com","isAllowed":false,"isHttps":true})");
}

TEST(Format, InvalidNameGivesAwfMessage) {
  OutputFormat f;
  std::string error;
  EXPECT_TRUE(parse_output_format("raw", f, error));
  EXPECT_EQ(f, OutputFormat::raw);
  EXPECT_FALSE(parse_output_format("yaml", f, error));
  EXPECT_EQ(error, "Invalid format: yaml. Must be one of: raw, pretty, json");
}

}  // namespace
}  // namespace awf::logs
