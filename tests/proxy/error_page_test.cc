// Unit tests of the pages awf-proxy answers with itself and their texts.
#include <gtest/gtest.h>

#include "awf/proxy/error_page.h"

using namespace awf::proxy;

namespace {

TEST(ErrorPage, RendersSquidHeadAndPrefixedBody) {
  std::string out = "left over from an earlier response";
  render_error_page(out, ErrorPage{.status = 502, .text = "the origin failed", .squid_error = "ERR_READ_ERROR"});
  const std::string body = "awf-proxy: the origin failed\n";
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\nServer: awf-proxy\r\nMime-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                std::to_string(body.size()) +
                "\r\nX-Squid-Error: ERR_READ_ERROR 0\r\nConnection: close\r\n\r\n" + body);
}

TEST(ErrorPage, TextEndingInNewlineGetsNoSecond) {
  std::string out;
  render_error_page(out, ErrorPage{.status = 403, .text = "line one\nline two\n", .squid_error = "ERR_ACCESS_DENIED",
                                   .close_connection = false});
  EXPECT_NE(out.find("Connection: keep-alive\r\n\r\nawf-proxy: line one\nline two\n"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out[out.size() - 2], '\n');
  EXPECT_NE(out.find("Content-Length: 29\r\n"), std::string::npos) << out;
}

TEST(ErrorPage, HeadRequestGetsTheHeadWithTheBodysLength) {
  std::string with_body, head_only;
  render_error_page(with_body, ErrorPage{.status = 400, .text = "bad", .squid_error = "ERR_INVALID_REQ"});
  render_error_page(head_only,
                    ErrorPage{.status = 400, .text = "bad", .squid_error = "ERR_INVALID_REQ", .head_only = true});
  EXPECT_EQ(with_body, head_only + "awf-proxy: bad\n");
  EXPECT_NE(head_only.find("Content-Length: 15\r\n"), std::string::npos) << head_only;
}

TEST(ErrorPage, UnknownStatusHasAGenericPhrase) {
  EXPECT_STREQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_STREQ(reason_phrase(418), "Error");
}

TEST(ErrorPage, DenialNamesHostReasonAndRule) {
  awf::policy::Rule rule{.text = "-.evil.test", .list = awf::policy::ListKind::block};
  EXPECT_EQ(denial_text("x.evil.test", 443, awf::policy::Reason::blocklisted, &rule),
            "access to x.evil.test:443 denied\nreason: blocklisted (the host matches the blocklist "
            "(--block-domains))\nrule: -.evil.test\nto allow it: remove \"-.evil.test\" from --block-domains\n");
  EXPECT_EQ(denial_text("a.test", 80, awf::policy::Reason::not_in_allowlist, nullptr),
            "access to a.test:80 denied\nreason: not_in_allowlist (the host is not in the allowlist "
            "(--allow-domains))\nto allow it: --allow-domains a.test\n");
  EXPECT_TRUE(denial_text("a.test", 8080, awf::policy::Reason::port_not_allowed, nullptr)
                  .ends_with("are allowed)\nto allow it: --allow-host-ports 8080\n"));
  // Nothing a flag can do about a name that is not a name.
  EXPECT_EQ(denial_text("a b", 80, awf::policy::Reason::invalid_host, nullptr).find("to allow it"), std::string::npos);
}

TEST(ErrorPage, TheReasonCodeIsAHeaderWhenGiven) {
  std::string out;
  render_error_page(out, ErrorPage{.status = 403, .text = "denied", .squid_error = "ERR_ACCESS_DENIED",
                                   .proxy_error = "not_in_allowlist"});
  EXPECT_NE(out.find("\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\nX-Proxy-Error: not_in_allowlist\r\n"),
            std::string::npos)
      << out;
  render_error_page(out, ErrorPage{.status = 502, .text = "failed", .squid_error = "ERR_READ_ERROR"});
  EXPECT_EQ(out.find("X-Proxy-Error"), std::string::npos) << out;
}

TEST(ErrorPage, RefusedAddressesNameTheFlagThatAllowsThem) {
  EXPECT_EQ(refused_addresses_text("in.test", 80, "loopback 127.0.0.1, private 10.0.0.1"),
            "access to in.test:80 denied\nreason: private_address (in.test resolves to loopback 127.0.0.1, "
            "private 10.0.0.1; allow the range with --allow-private-ranges)\n");
}

TEST(ErrorPage, EachRefusedHeadGetsItsStatus) {
  HeadRefusal big = refusal_for(HeadError::too_large);
  EXPECT_EQ(big.status, 431);
  EXPECT_STREQ(big.squid_error, "ERR_TOO_BIG");
  HeadRefusal te = refusal_for(HeadError::bad_transfer_encoding);
  EXPECT_EQ(te.status, 501);
  EXPECT_STREQ(te.squid_error, "ERR_UNSUP_REQ");
  HeadRefusal listed = refusal_for(HeadError::connection_lists_host);
  EXPECT_EQ(listed.status, 400);
  EXPECT_EQ(listed.text, std::string("malformed request: Connection lists Host, a header the message is framed or "
                                     "routed by (") + to_string(HeadError::connection_lists_host) + ")");
  HeadRefusal fold = refusal_for(HeadError::obs_fold);
  EXPECT_EQ(fold.status, 400);
  EXPECT_STREQ(fold.squid_error, "ERR_INVALID_REQ");
  EXPECT_EQ(fold.text, std::string("malformed request: ") + to_string(HeadError::obs_fold));
}

}  // namespace
