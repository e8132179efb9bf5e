// --allowed-methods (a read-only agent) through the real awf-proxy and curl:
// methods outside the list are refused where the proxy sees them; tunnels it
// cannot look into (CONNECT and transparent TLS to names not bumped,
// WebSocket upgrades) are refused unless CONNECT is listed. Bumped
// connections are covered in ssl_bump_test.cc.
#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, OnlyTheListedMethodsPassOnPlainHttp) {
  start_proxy({"--allow-domains", "allowed.test", "--allowed-methods", "get, head,OPTIONS"});
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("web.allowed.test"), {"-I"}), 200);
  RunResult post = curl({"-i", "-X", "POST", "--data", "x=1", web_url("web.allowed.test", "/form")});
  EXPECT_EQ(post.out.rfind("HTTP/1.1 403", 0), 0u) << post.out;
  EXPECT_EQ(header_value(post.out, "X-Proxy-Error"), "method_not_allowed") << post.out;
  EXPECT_NE(post.out.find("POST is not among --allowed-methods GET,HEAD,OPTIONS"), std::string::npos) << post.out;
  EXPECT_NE(post.out.find("to allow it: --allowed-methods GET,HEAD,OPTIONS,POST\n"), std::string::npos) << post.out;
  EXPECT_EQ(status_of(web_url("web.allowed.test"), {"-X", "DELETE"}), 403);
  EXPECT_EQ(web_->requests(), 2u);  // the GET and the HEAD
  auto audit = log_lines(4, "audit.jsonl");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_NE(audit[2].find("\"reason\":\"method_not_allowed\""), std::string::npos) << audit[2];
}

TEST_F(ProxyTest, ReadOnlyRefusesTunnelsAndUpgradesItCannotLookInto) {
  start_proxy({"--allow-domains", "allowed.test", "--allowed-methods", "GET,HEAD"});
  RunResult tunnel = curl({"-sk", "-i", "https://secure.allowed.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_NE(tunnel.exit_code, 0);
  const std::string response = raw("CONNECT secure.allowed.test:" + std::to_string(tls_->port()) +
                                   " HTTP/1.1\r\nHost: secure.allowed.test\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 403", 0), 0u) << response;
  EXPECT_EQ(header_value(response, "X-Proxy-Error"), "tunnel_not_inspectable") << response;
  EXPECT_NE(response.find("to allow it: --ssl-bump"), std::string::npos) << response;
  EXPECT_EQ(tls_->connections(), 0u);

  RunResult ws = curl({"-i", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H",
                       "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                       web_url("web.allowed.test", "/ws")});
  EXPECT_EQ(ws.out.rfind("HTTP/1.1 403", 0), 0u) << ws.out;
  EXPECT_EQ(header_value(ws.out, "X-Proxy-Error"), "tunnel_not_inspectable") << ws.out;
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(ProxyTest, ListingConnectLetsTunnelsThrough) {
  start_proxy({"--allow-domains", "allowed.test", "--allowed-methods", "GET,CONNECT"});
  RunResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_code}",
                      "https://secure.allowed.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(status_of(web_url("web.allowed.test"), {"-X", "PUT"}), 403);
}

TEST_F(ProxyTest, ReportModeNotesMethodRefusalsAndLetsThemThrough) {
  start_proxy({"--allow-domains", "allowed.test", "--allowed-methods", "GET", "--policy-mode", "report"});
  EXPECT_EQ(status_of(web_url("web.allowed.test"), {"-X", "POST"}), 200);
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"would_deny\":\"method_not_allowed\""), std::string::npos) << audit[0];
}

}  // namespace
}  // namespace awf::proxy_test
