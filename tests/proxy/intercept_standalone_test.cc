// The interception front ends bound by awf-proxy's own flags
// (--listen-http-intercept, --listen-tls-intercept, --listen-dns), without a
// namespace or nftables: what a standalone user or another sandbox gets.
// Without a redirect there is no original destination: port 443 for TLS,
// the Host header's port for HTTP.
#include "awf/testing/dns_stub.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

class StandaloneInterceptTest : public ProxyTest {
 protected:
  void start_with_intercept(std::vector<std::string> extra = {}) {
    dns_ = awf::testing::DnsStub::start("127.0.0.1", {{"allowed.test", {kWebIp}}, {"denied.test", {kWebIp}}});
    ASSERT_TRUE(dns_);
    std::vector<std::string> args = {"--allow-domains", "allowed.test",
                                     "--listen-http-intercept", "127.0.0.1:0",
                                     "--listen-tls-intercept", "127.0.0.1:0",
                                     "--listen-dns", "127.0.0.1:0",
                                     "--dns-servers", "127.0.0.1:" + std::to_string(dns_->port())};
    args.insert(args.end(), extra.begin(), extra.end());
    start_proxy(args);
    http_port_ = port_of("(http-intercept)");
    tls_port_ = port_of("(tls-intercept)");
    dns_port_ = port_of("(dns-udp)");
    ASSERT_NE(http_port_, 0);
    ASSERT_NE(tls_port_, 0);
    ASSERT_NE(dns_port_, 0);
    EXPECT_EQ(port_of("(dns-tcp)"), dns_port_);
  }

  std::uint16_t port_of(const std::string& kind) const {
    for (const auto& line : split(proxy_->stderr_text(), '\n')) {
      if (line.find("listening on 127.0.0.1:") == std::string::npos || line.find(kind) == std::string::npos) continue;
      const auto colon = line.rfind(':');
      return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    return 0;
  }

  std::unique_ptr<awf::testing::DnsStub> dns_;
  std::uint16_t http_port_ = 0, tls_port_ = 0, dns_port_ = 0;
};

TEST_F(StandaloneInterceptTest, OriginFormRequestsGoWhereTheHostHeaderSays) {
  start_with_intercept();
  auto c = TcpClient::connect("127.0.0.1", http_port_);
  ASSERT_TRUE(c);
  const std::string host = std::string("web.allowed.test:") + std::to_string(web_->port());
  c->send("GET /echo?x=1 HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: t\r\n\r\n");
  std::string resp = c->read_response(5s);
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  EXPECT_NE(web_->last_request_head().find("GET /echo?x=1 HTTP/1.1"), std::string::npos);
  // Keep-alive: the next request on the connection is decided on its own Host.
  c->send("GET / HTTP/1.1\r\nHost: other.test:" + std::to_string(web_->port()) + "\r\n\r\n");
  resp = c->read_response(5s);
  EXPECT_EQ(resp.rfind("HTTP/1.1 403", 0), 0u) << resp;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  DetailedLine ok = parse_detailed(lines[0]), denied = parse_detailed(lines[1]);
  EXPECT_EQ(ok.url, "http://" + host + "/echo?");
  EXPECT_EQ(ok.code, "TCP_MISS:HIER_DIRECT");
  EXPECT_EQ(denied.code, "TCP_DENIED:HIER_NONE");
}

TEST_F(StandaloneInterceptTest, AnIpLiteralOrBrokenHostIsNotADestination) {
  start_with_intercept();
  auto ip = TcpClient::connect("127.0.0.1", http_port_);
  ASSERT_TRUE(ip);
  ip->send(std::string("GET / HTTP/1.1\r\nHost: ") + kWebIp + ":" + std::to_string(web_->port()) + "\r\n\r\n");
  EXPECT_EQ(ip->read_response(5s).rfind("HTTP/1.1 403", 0), 0u);
  for (const std::string head : {"GET / HTTP/1.1\r\nHost: allowed.test@evil.test\r\n\r\n",
                                 "GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: evil.test\r\n\r\n",
                                 "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test\r\n\r\n"}) {
    auto c = TcpClient::connect("127.0.0.1", http_port_);
    ASSERT_TRUE(c);
    c->send(head);
    const std::string resp = c->read_response(5s);
    EXPECT_TRUE(resp.rfind("HTTP/1.1 400", 0) == 0 || resp.rfind("HTTP/1.1 405", 0) == 0) << head << "\n" << resp;
  }
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(StandaloneInterceptTest, ADeniedSniGetsAnAccessDeniedAlert) {
  start_with_intercept();
  RunResult r = awf::testing::run({"curl", "-sS", "--max-time", "10", "--noproxy", "*", "-k", "--connect-to",
                                   "denied.test:443:127.0.0.1:" + std::to_string(tls_port_), "https://denied.test/"});
  EXPECT_EQ(r.exit_code, 35) << r.err;
  EXPECT_NE(r.err.find("access denied"), std::string::npos) << r.err;
  expect_fields(only_log_line(), {.method = "CONNECT", .code = "TCP_DENIED:HIER_NONE", .url = "denied.test:443"});
  // The alert has no room for a reason: the audit record carries it.
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"reason\":\"not_in_allowlist\""), std::string::npos) << audit[0];
}

TEST_F(StandaloneInterceptTest, InReportModeADeniedSniIsDialledAndLoggedWithWhatEnforceWouldSay) {
  start_with_intercept({"--policy-mode", "report"});
  // Without a redirect the proxy dials denied.test:443, where nothing
  // listens: the client's handshake fails, but not with access_denied.
  RunResult r = awf::testing::run({"curl", "-sS", "--max-time", "10", "--noproxy", "*", "-k", "--connect-to",
                                   "denied.test:443:127.0.0.1:" + std::to_string(tls_port_), "https://denied.test/"});
  EXPECT_EQ(r.err.find("access denied"), std::string::npos) << r.err;
  const DetailedLine line = only_log_line();
  EXPECT_EQ(line.code.find("TCP_DENIED"), std::string::npos) << line.code;
  EXPECT_EQ(line.dest, std::string(kWebIp) + ":443");  // it was dialled
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"would_deny\":\"not_in_allowlist\""), std::string::npos) << audit[0];
}

TEST_F(StandaloneInterceptTest, ReadOnlyRefusesTransparentTlsItDoesNotBump) {
  start_with_intercept({"--allowed-methods", "GET,HEAD"});
  RunResult r = awf::testing::run({"curl", "-sS", "--max-time", "10", "--noproxy", "*", "-k", "--connect-to",
                                   "allowed.test:443:127.0.0.1:" + std::to_string(tls_port_), "https://allowed.test/"});
  EXPECT_NE(r.err.find("access denied"), std::string::npos) << r.err;
  expect_fields(only_log_line(), {.code = "TCP_DENIED:HIER_NONE", .url = "allowed.test:443"});
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"reason\":\"tunnel_not_inspectable\""), std::string::npos) << audit[0];
}

TEST_F(StandaloneInterceptTest, AnIdleRedirectedClientDoesNotHoldUpShutdown) {
  start_with_intercept({"--shutdown-timeout", "20"});
  auto c = TcpClient::connect("127.0.0.1", tls_port_);
  ASSERT_TRUE(c);
  std::this_thread::sleep_for(200ms);  // accepted, its first read pending
  const auto started = std::chrono::steady_clock::now();
  proxy_->signal(SIGTERM);
  EXPECT_EQ(proxy_->wait(15s), std::optional<int>(0)) << proxy_->stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "waited for a client that sent nothing";
  EXPECT_EQ(awf::testing::read_file(dir_.file("access.log")), "") << "nothing to log for it";
}

TEST_F(StandaloneInterceptTest, AClientThatNeverFinishesItsHelloIsCutAtTheDeadline) {
  start_with_intercept({"--client-hello-timeout", "0.5"});
  auto c = TcpClient::connect("127.0.0.1", tls_port_);
  ASSERT_TRUE(c);
  c->send(std::string("\x16\x03\x01\x02\x00", 5));  // a record header promising 512 bytes
  bool eof = false;
  c->read_to_eof(5s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(only_log_line().code, "TCP_DENIED:HIER_NONE");
  EXPECT_NE(proxy_->stderr_text().find("ClientHello timeout"), std::string::npos);
}

TEST_F(StandaloneInterceptTest, TheDnsListenerAnswersOverUdpAndTcp) {
  if (awf::testing::run({"sh", "-c", "command -v dig"}).exit_code != 0) GTEST_SKIP() << "dig is missing";
  start_with_intercept();
  const std::string port = std::to_string(dns_port_);
  RunResult udp = awf::testing::run({"dig", "+time=3", "+tries=1", "-p", port, "@127.0.0.1", "allowed.test"});
  EXPECT_NE(udp.out.find("status: NOERROR"), std::string::npos) << udp.out;
  EXPECT_NE(udp.out.find(kWebIp), std::string::npos) << udp.out;
  RunResult tcp = awf::testing::run({"dig", "+tcp", "+time=3", "+tries=1", "-p", port, "@127.0.0.1", "allowed.test"});
  EXPECT_NE(tcp.out.find(kWebIp), std::string::npos) << tcp.out;
  RunResult refused = awf::testing::run({"dig", "+time=3", "+tries=1", "-p", port, "@127.0.0.1", "denied.test"});
  EXPECT_NE(refused.out.find("status: REFUSED"), std::string::npos) << refused.out;
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/A"), std::string::npos) << lines[0];
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"reason\":\"not_allowed\""), std::string::npos) << audit[0];
}

TEST_F(StandaloneInterceptTest, HealthCheckAndVersionAreThere) {
  start_with_intercept();
  RunResult ok = awf::testing::run({AWF_PROXY_BIN, "--health-check", proxy_addr()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  RunResult down = awf::testing::run({AWF_PROXY_BIN, "--health-check", "127.0.0.1:" + std::to_string(refused_port_)});
  EXPECT_EQ(down.exit_code, 1);
  RunResult version = awf::testing::run({AWF_PROXY_BIN, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("awf-proxy ", 0), 0u) << version.out;
  EXPECT_TRUE(log_lines(1, "access.log", 300ms).empty());  // the probe left no line
}

}  // namespace
}  // namespace awf::proxy_test
