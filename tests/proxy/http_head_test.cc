// Unit tests of the strict HTTP head parsers, the chunked scanner and the
// head rewriting between client and upstream.
#include <gtest/gtest.h>

#include <algorithm>
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
  const std::string four = "\r\n\r\n\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n";
  ASSERT_EQ(parse(four, h).status, ParseStatus::done);
  EXPECT_EQ(h.head_size, four.size());
}

// Blank lines count against the head limit like any other byte.
TEST(RequestHead, LeadingEmptyLinesCountAgainstTheLimit) {
  RequestHead h;
  const std::string head = "GET http://a/ HTTP/1.1\r\n\r\n";
  EXPECT_EQ(parse(head, h, head.size()).status, ParseStatus::done);
  EXPECT_EQ(parse("\r\n" + head, h, head.size()).error, HeadError::too_large);
}

// Resuming with a cursor gives what one call over all the bytes gives, at
// every split, for heads that parse and heads that do not.
TEST(HeadCursor, ResumingAtEverySplitMatchesOneCall) {
  for (const std::string full : {"\r\n\r\nPOST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc",
                                 "GET http://a/ HTTP/1.1\r\nX: 1\nY: 2\r\n\r\n",
                                 "\r\n\r\n\r\n\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n",
                                 "\r\n\r\r\nGET http://a/ HTTP/1.1\r\n\r\n"}) {
    RequestHead whole;
    const ParseResult expected = parse(full, whole);
    for (std::size_t split = 0; split <= full.size(); ++split) {
      RequestHead h;
      HeadCursor cursor;
      ParseResult r = parse_request_head(std::string_view(full).substr(0, split), 65536, h, cursor);
      if (r.status == ParseStatus::need_more) r = parse_request_head(full, 65536, h, cursor);
      EXPECT_EQ(r.status, expected.status) << split << " in " << full;
      EXPECT_EQ(r.error, expected.error) << split << " in " << full;
      if (r.status == ParseStatus::done) {
        EXPECT_EQ(h.head_size, whole.head_size);
      }
    }
  }
}

// A head that arrives a byte at a time (a client trickling 1-byte segments)
// is searched once: the bytes examined over all calls stay linear in its
// size. Without the cursor each call would rescan from the start: ~n²/2.
TEST(HeadCursor, AHeadArrivingByteByByteIsScannedOnce) {
  std::string head = "POST http://a.test/ HTTP/1.1\r\n";
  while (head.size() < 60000) head += "X-Pad: " + std::string(40, 'p') + "\r\n";
  head = "\r\n\r\n" + head + "\r\n";
  RequestHead h;
  HeadCursor cursor;
  std::size_t calls = 0;
  ParseResult r;
  for (std::size_t n = 1; n <= head.size(); ++n) {
    ++calls;
    r = parse_request_head(std::string_view(head).substr(0, n), 65536, h, cursor);
    if (r.status != ParseStatus::need_more) break;
  }
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(calls, head.size());
  EXPECT_EQ(h.head_size, head.size());
  EXPECT_LE(cursor.bytes_examined, head.size() + calls);

  std::string response = "HTTP/1.1 200 OK\r\n";
  while (response.size() < 60000) response += "X-Pad: " + std::string(40, 'p') + "\r\n";
  response += "\r\n";
  ResponseHead rh;
  HeadCursor rcursor;
  for (std::size_t n = 1; n <= response.size(); ++n) {
    r = parse_response_head(std::string_view(response).substr(0, n), 65536, rh, rcursor);
    if (r.status != ParseStatus::need_more) break;
  }
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_LE(rcursor.bytes_examined, 2 * response.size());
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
        // Found by the http_head_beast fuzz target (seed
        // tests/proxy/corpus/http_head_beast/content-length-empty-elements.bin):
        // empty list elements were skipped, and `,,,1` forwarded as written.
        Refusal{"ContentLengthEmptyElements", "POST http://a/ HTTP/1.1\r\nContent-Length: ,,,1\r\n\r\n",
                HeadError::bad_length},
        Refusal{"ContentLengthTrailingComma", "POST http://a/ HTTP/1.1\r\nContent-Length: 1,\r\n\r\n",
                HeadError::bad_length},
        Refusal{"ContentLengthEmpty", "POST http://a/ HTTP/1.1\r\nContent-Length:\r\n\r\n", HeadError::bad_length},
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
        Refusal{"ControlByteInValue", "GET http://a/ HTTP/1.1\r\nX: a\x01z\r\n\r\n", HeadError::bad_header},
        // Dropping what Connection lists would forward a body framed by a
        // header the origin never sees: it reads the body as requests.
        Refusal{"ConnectionListsContentLength",
                "POST http://a/ HTTP/1.1\r\nConnection: keep-alive, CONTENT-length\r\nContent-Length: 5\r\n\r\n",
                HeadError::connection_lists_content_length},
        Refusal{"ConnectionListsTransferEncoding",
                "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                "Connection: Transfer-Encoding\r\n\r\n",
                HeadError::connection_lists_transfer_encoding},
        Refusal{"ConnectionListsHost", "GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n",
                HeadError::connection_lists_host},
        Refusal{"FiveBlankLinesBeforeTheRequestLine", "\r\n\r\n\r\n\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n",
                HeadError::too_many_empty_lines},
        Refusal{"BareLfAfterBlankLines", "\r\n\nGET http://a/ HTTP/1.1\r\n\r\n", HeadError::bare_lf},
        Refusal{"CrWithoutLfBeforeTheRequestLine", "\r\rGET http://a/ HTTP/1.1\r\n\r\n", HeadError::bad_start_line}),
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

// Found by the http_head fuzz target (seed
// tests/proxy/corpus/http_head/bad_start_line__status-below-100.txt): a
// status under 100 was taken, and the head relayed to the client said
// `HTTP/1.1 50 ...`, a status line no client parses.
TEST(ResponseHead, ContentLengthWithEmptyListElementsIsRefused) {
  for (const char* head : {"HTTP/1.1 200 OK\r\nContent-Length: 5,,5\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: , 5\r\n\r\n"}) {
    ResponseHead h;
    const ParseResult r = parse_response_head(head, 65536, h);
    EXPECT_EQ(r.status, ParseStatus::error) << head;
    EXPECT_EQ(r.error, HeadError::bad_length) << head;
  }
  ResponseHead h;
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 65536, h).status,
            ParseStatus::done);
  EXPECT_EQ(h.content_length, 5u);
}

TEST(ResponseHead, StatusBelow100IsRefused) {
  for (const char* line : {"HTTP/1.1 050 Switching\r\n\r\n", "HTTP/1.1 000\r\n\r\n", "HTTP/1.0 099 x\r\n\r\n"}) {
    ResponseHead h;
    const ParseResult r = parse_response_head(line, 65536, h);
    EXPECT_EQ(r.status, ParseStatus::error) << line;
    EXPECT_EQ(r.error, HeadError::bad_start_line) << line;
  }
  ResponseHead h;
  ASSERT_EQ(parse_response_head("HTTP/1.1 100 Continue\r\n\r\n", 65536, h).status, ParseStatus::done);
  EXPECT_EQ(build_client_response(h, false, false), "HTTP/1.1 100 Continue\r\n\r\n");
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

// 15,000 Connection tokens in a 64 KiB head: collected once, sorted and
// deduplicated, so dropping the headers they name is one binary search per
// header (it was every header times every token: 0.7 s of an I/O thread).
TEST(Rewrite, ThousandsOfConnectionTokensDropExactlyTheHeadersTheyName) {
  std::string head = "GET http://a.test/ HTTP/1.1\r\nConnection: ";
  for (int i = 0; i < 14000; ++i) head += i % 2 ? "a," : "A,";
  for (int i = 0; i < 1000; ++i) head += (i % 2 ? "H" : "h") + std::to_string(i) + ",";
  head += "close\r\n";
  for (int i = 0; i < 2000; ++i) head += "h" + std::to_string(i) + ": v\r\n";
  head += "\r\n";
  ASSERT_LT(head.size(), 65536u);
  RequestHead h;
  ASSERT_EQ(parse(head, h).status, ParseStatus::done);
  EXPECT_EQ(h.connection_tokens.size(), 1002u);  // a, h0 .. h999 and close, once each
  EXPECT_TRUE(std::is_sorted(h.connection_tokens.begin(), h.connection_tokens.end()));
  EXPECT_TRUE(h.connection_lists("H999"));
  EXPECT_TRUE(h.connection_lists("CLOSE"));
  EXPECT_FALSE(h.connection_lists("h1000"));
  const std::string out = build_upstream_request(h, Target{"a.test", 80, "/"}, false);
  std::string expected = "GET / HTTP/1.1\r\nHost: a.test\r\n";
  for (int i = 1000; i < 2000; ++i) expected += "h" + std::to_string(i) + ": v\r\n";
  expected += "\r\n";
  EXPECT_EQ(out, expected);
}

TEST(ResponseHead, ConnectionListingAFramingHeaderIsRefused) {
  ResponseHead h;
  auto r = parse_response_head("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok", 65536, h);
  EXPECT_EQ(r.error, HeadError::connection_lists_content_length);
  r = parse_response_head("HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n", 65536,
                          h);
  EXPECT_EQ(r.error, HeadError::connection_lists_transfer_encoding);
  // Host means nothing in a response: only dropped.
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nConnection: host\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 65536, h)
                .status,
            ParseStatus::done);
  EXPECT_EQ(build_client_response(h, false, false), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
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
