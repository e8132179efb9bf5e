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

TEST(TransactionLog, UrlLosesItsQueryButKeepsTheMark) {
  LogRecord rec;
  RequestHead req = request("GET http://A.test/p?token=secret HTTP/1.1\r\nHost: A.test\r\n\r\n");
  record_destination(rec, req, "a.test", Target{"A.test", 80, "/p?token=secret"}, false, false);
  EXPECT_EQ(rec.url, "http://a.test/p?");
  EXPECT_EQ(rec.host, "a.test");
}

TEST(TransactionLog, UrlCarriesAPortOtherThan80) {
  LogRecord rec;
  RequestHead req = request("GET http://a.test:8080/x HTTP/1.1\r\nHost: a.test:8080\r\n\r\n");
  record_destination(rec, req, "a.test", Target{"a.test", 8080, "/x"}, false, true);
  EXPECT_EQ(rec.url, "http://a.test:8080/x");
  EXPECT_EQ(rec.host, "a.test:8080");
}

TEST(TransactionLog, ConnectUrlIsHostAndPort) {
  LogRecord rec;
  RequestHead req = request("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n");
  record_destination(rec, req, "a.test", Target{"a.test", 443, ""}, true, true);
  EXPECT_EQ(rec.url, "a.test:443");
  EXPECT_EQ(rec.host, "a.test:443");
}

TEST(TransactionLog, HostStaysDashWithoutAHostHeader) {
  LogRecord rec;
  RequestHead req = request("GET http://a.test/ HTTP/1.0\r\n\r\n");
  record_destination(rec, req, "a.test", Target{"a.test", 80, "/"}, false, false);
  EXPECT_EQ(rec.url, "http://a.test/");
  EXPECT_EQ(rec.host, "-");
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
