// Unit tests of the strict HTTP head parsers, the chunked scanner and the
// head rewriting between client and upstream.
#include <gtest/gtest.h>

#include <cstring>

#include "awf/proxy/http_head.h"

using namespace awf::proxy;

namespace {

ParseResult parse(std::string_view s, RequestHead& h, std::size_t max = 65536) {
  return parse_request_head(s, max, h);
}

TEST(RequestHead, AbsoluteGetParses) {
  RequestHead h;
  auto r = parse("GET http://a.test/x?y HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t\r\n\r\nrest", h);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "http://a.test/x?y");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.head_size, std::string_view("GET http://a.test/x?y HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t\r\n\r\n").size());
  ASSERT_NE(h.find("user-agent"), nullptr);
  EXPECT_EQ(*h.find("USER-AGENT"), "t");
  EXPECT_EQ(h.body, BodyKind::none);
}

TEST(RequestHead, EverySplitOffsetNeedsMoreThenCompletes) {
  const std::string full = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\n";
  for (std::size_t i = 0; i < full.size(); ++i) {
    RequestHead h;
    EXPECT_EQ(parse(full.substr(0, i), h).status, ParseStatus::need_more) << "offset " << i;
  }
  RequestHead h;
  ASSERT_EQ(parse(full, h).status, ParseStatus::done);
  EXPECT_EQ(h.body, BodyKind::length);
  EXPECT_EQ(h.content_length, 3u);
}

TEST(RequestHead, LeadingEmptyLinesAreSkipped) {
  RequestHead h;
  EXPECT_EQ(parse("\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n", h).status, ParseStatus::done);
  EXPECT_EQ(h.method, "GET");
}

struct Refusal {
  const char* name;
  const char* head;
  HeadError error;
};

class RequestRefusals : public ::testing::TestWithParam<Refusal> {};

TEST_P(RequestRefusals, IsRefusedWithReason) {
  RequestHead h;
  auto r = parse(GetParam().head, h);
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_EQ(r.error, GetParam().error) << to_string(r.error);
}

INSTANTIATE_TEST_SUITE_P(
    Smuggling, RequestRefusals,
    ::testing::Values(
        Refusal{"ContentLengthWithChunked",
                "POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                HeadError::length_and_chunked},
        Refusal{"DuplicateContentLength", "POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                HeadError::duplicate_length},
        Refusal{"ContentLengthList", "POST http://a/ HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
                HeadError::duplicate_length},
        Refusal{"ContentLengthNotNumber", "POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n", HeadError::bad_length},
        Refusal{"ObsFold", "GET http://a/ HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", HeadError::obs_fold},
        Refusal{"BareLfInHeaders", "GET http://a/ HTTP/1.1\nHost: a\r\n\r\n", HeadError::bare_lf},
        Refusal{"BareLfEverywhere", "GET http://a/ HTTP/1.1\n\n", HeadError::bare_lf},
        Refusal{"SpaceBeforeColon", "GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n", HeadError::bad_header},
        Refusal{"GzipTransferEncoding", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                HeadError::bad_transfer_encoding},
        Refusal{"ChunkedNotLast", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                HeadError::bad_transfer_encoding},
        Refusal{"ChunkedOnHttp10", "POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                HeadError::bad_transfer_encoding},
        Refusal{"Http2Preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HeadError::bad_version},
        Refusal{"DoubleSpaceRequestLine", "GET  http://a/ HTTP/1.1\r\n\r\n", HeadError::bad_start_line},
        Refusal{"ControlByteInValue", "GET http://a/ HTTP/1.1\r\nX: a\x01z\r\n\r\n", HeadError::bad_header}),
    [](const ::testing::TestParamInfo<Refusal>& p) { return std::string(p.param.name); });

TEST(RequestHead, TooLargeHeadIsRefused) {
  RequestHead h;
  std::string big = "GET http://a/ HTTP/1.1\r\nX: " + std::string(2000, 'a');
  EXPECT_EQ(parse(big, h, 1024).error, HeadError::too_large);
}

TEST(ResponseHead, BodyKinds) {
  ResponseHead h;
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 65536, h).status, ParseStatus::done);
  EXPECT_EQ(h.body_kind("GET"), BodyKind::length);
  EXPECT_EQ(h.body_kind("HEAD"), BodyKind::none);
  ASSERT_EQ(parse_response_head("HTTP/1.1 204 No Content\r\n\r\n", 65536, h).status, ParseStatus::done);
  EXPECT_EQ(h.body_kind("GET"), BodyKind::none);
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 65536, h).status,
            ParseStatus::done);
  EXPECT_EQ(h.body_kind("GET"), BodyKind::chunked);
  ASSERT_EQ(parse_response_head("HTTP/1.0 200 OK\r\n\r\n", 65536, h).status, ParseStatus::done);
  EXPECT_EQ(h.body_kind("GET"), BodyKind::until_close);
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 65536, h).status,
            ParseStatus::error);
  EXPECT_EQ(parse_response_head("HTTP/1.1 2000 OK\r\n\r\n", 65536, h).status, ParseStatus::error);
}

TEST(ChunkedScanner, FindsTheEndAtEverySplit) {
  const std::string body = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n";
  const std::string after = "GET http://next/";
  const std::string all = body + after;
  for (std::size_t split = 0; split <= all.size(); ++split) {
    ChunkedScanner s;
    std::size_t a = s.feed(all.data(), split);
    std::size_t b = s.done() ? 0 : s.feed(all.data() + a, all.size() - a);
    EXPECT_TRUE(s.done()) << split;
    EXPECT_EQ(a + b, body.size()) << split;
  }
}

TEST(ChunkedScanner, RejectsBrokenFraming) {
  for (const char* bad : {"x\r\n", "5\r\nhelloXX", "5\nhello\r\n", "0\r\n\n", "12345678901234567\r\n"}) {
    ChunkedScanner s;
    s.feed(bad, std::strlen(bad));
    EXPECT_TRUE(s.failed()) << bad;
  }
}

TEST(Targets, AbsoluteUrls) {
  auto t = parse_absolute_http("http://user:pw@Api.Example.test:8080/p?q#frag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "Api.Example.test");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/p?q");
  t = parse_absolute_http("http://[::1]/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "[::1]");
  EXPECT_EQ(t->port, 80);
  t = parse_absolute_http("HTTP://a.test?x");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/?x");
  EXPECT_FALSE(parse_absolute_http("https://a.test/"));
  EXPECT_FALSE(parse_absolute_http("/relative"));
  EXPECT_FALSE(parse_absolute_http("http://a.test:0/"));
  EXPECT_FALSE(parse_absolute_http("http://a.test:99999/"));
  EXPECT_FALSE(parse_absolute_http("http://a\\b.test/"));
}

TEST(Targets, ConnectAuthority) {
  auto t = parse_authority("a.test:443");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 443);
  EXPECT_TRUE(parse_authority("[2001:db8::1]:443"));
  EXPECT_FALSE(parse_authority("a.test"));
  EXPECT_FALSE(parse_authority("2001:db8::1:443"));
  EXPECT_FALSE(parse_authority("a@b.test:443"));
}

TEST(Rewrite, UpstreamRequestDropsHopByHopAndProxyHeaders) {
  RequestHead h;
  ASSERT_EQ(parse("GET http://a.test/x HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: secret\r\n"
                  "Proxy-Connection: keep-alive\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\n"
                  "Accept: */*\r\n\r\n",
                  h)
                .status,
            ParseStatus::done);
  Target t{"a.test", 80, "/x"};
  std::string out = build_upstream_request(h, t, false);
  EXPECT_EQ(out, "GET /x HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n");
  Target t2{"a.test", 8080, "/x"};
  EXPECT_NE(build_upstream_request(h, t2, false).find("Host: a.test:8080\r\n"), std::string::npos);
}

TEST(Rewrite, WebSocketUpgradeIsKeptWhenAsked) {
  RequestHead h;
  ASSERT_EQ(parse("GET http://a.test/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", h).status,
            ParseStatus::done);
  std::string out = build_upstream_request(h, Target{"a.test", 80, "/ws"}, true);
  EXPECT_NE(out.find("Upgrade: websocket\r\nConnection: Upgrade\r\n"), std::string::npos);
  EXPECT_EQ(build_upstream_request(h, Target{"a.test", 80, "/ws"}, false).find("Upgrade"), std::string::npos);
}

TEST(Rewrite, ClientResponseAddsCloseWhenClosing) {
  ResponseHead h;
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 65536, h)
                .status,
            ParseStatus::done);
  EXPECT_EQ(build_client_response(h, true, false), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(build_client_response(h, false, false), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

}  // namespace
