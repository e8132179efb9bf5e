// Unit tests of the access-log fields an HTTP transaction derives: Squid's
// %ru with the query cut, %{Host}>h as routed, the request and response
// fields.
#include <gtest/gtest.h>

#include "awf/proxy/transaction_log.h"

using namespace awf::proxy;

namespace {

RequestHead request(std::string_view text) {
  RequestHead h;
  EXPECT_EQ(parse_request_head(text, 65536, h).status, ParseStatus::done) << text;
  return h;
}

TEST(TransactionLog, RequestFieldsComeFromTheHead) {
  LogRecord rec;
  record_request(rec, request("POST http://a.test/ HTTP/1.0\r\nUser-Agent: curl/8\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(rec.method, "POST");
  EXPECT_EQ(rec.version, "1.0");
  EXPECT_EQ(rec.user_agent, "curl/8");
  LogRecord plain;
  record_request(plain, request("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  EXPECT_EQ(plain.version, "1.1");
  EXPECT_EQ(plain.user_agent, "-");
}

// The URL and Host fields of a request routed to "a.test".
TEST(TransactionLog, DestinationFieldsFollowSquid) {
  struct Case {
    const char* why;
    const char* head;
    Target target;
    bool is_connect;
    bool host_with_port;
    const char* url;
    const char* host;
  } cases[] = {
      {"the URL loses its query but keeps the mark", "GET http://A.test/p?token=secret HTTP/1.1\r\nHost: A.test\r\n\r\n",
       {"A.test", 80, "/p?token=secret"}, false, false, "http://a.test/p?", "a.test"},
      {"the URL carries a port other than 80", "GET http://a.test:8080/x HTTP/1.1\r\nHost: a.test:8080\r\n\r\n",
       {"a.test", 8080, "/x"}, false, true, "http://a.test:8080/x", "a.test:8080"},
      {"a CONNECT URL is host and port", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
       {"a.test", 443, ""}, true, true, "a.test:443", "a.test:443"},
      {"Host stays a dash without a Host header", "GET http://a.test/ HTTP/1.0\r\n\r\n",
       {"a.test", 80, "/"}, false, false, "http://a.test/", "-"},
  };
  for (const auto& c : cases) {
    LogRecord rec;
    record_destination(rec, request(c.head), "a.test", c.target, c.is_connect, c.host_with_port);
    EXPECT_EQ(rec.url, c.url) << c.why;
    EXPECT_EQ(rec.host, c.host) << c.why;
  }
}

TEST(TransactionLog, HostPortFollowsTheModesRules) {
  // Forward mode: CONNECT and non-80 ports carry it.
  EXPECT_TRUE(logged_host_has_port(false, false, true, 443));
  EXPECT_TRUE(logged_host_has_port(false, false, false, 8080));
  EXPECT_FALSE(logged_host_has_port(false, true, false, 80));
  // Intercepted: as the client wrote Host, whatever the port.
  EXPECT_TRUE(logged_host_has_port(true, true, false, 80));
  EXPECT_FALSE(logged_host_has_port(true, false, false, 8080));
}

TEST(TransactionLog, ResponseMediaTypeDropsParameters) {
  ResponseHead resp;
  ASSERT_EQ(parse_response_head("HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\n\r\n", 65536, resp)
                .status,
            ParseStatus::done);
  LogRecord rec;
  record_response(rec, resp);
  EXPECT_EQ(rec.status, 404);
  EXPECT_EQ(rec.content_type, "text/html");
}

TEST(TransactionLog, EndBeforeRequestIsSquidsRecord) {
  LogRecord rec;
  record_end_before_request(rec);
  EXPECT_EQ(rec.url, "error:transaction-end-before-headers");
  EXPECT_EQ(rec.host, "-:0");
}

}  // namespace
