// Transparent interception end to end: a namespace with only lo whose TCP
// 80/443 and DNS are redirected by the launcher's nftables ruleset to
// listeners handed to the real awf-proxy by socket activation; proxy-unaware
// curl, dig and raw sockets inside, origins and a DNS upstream outside.
#include <netinet/tcp.h>

#include <fstream>
#include <iterator>

#include "intercept_fixture.h"

namespace awf::proxy_test {
namespace {

std::string corpus_file(const std::string& name) {
  std::ifstream in(std::string(AWF_INTERCEPT_CORPUS_DIR) + "/client_hello/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A blocking TCP exchange from inside the namespace: connect, send `bytes`
// in pieces of `piece` bytes (TCP_NODELAY, a pause between them so each
// leaves as its own segment), then read until EOF, `want` bytes or 5 s.
struct RawResult {
  bool connected = false;
  std::string received;
  bool eof = false;
};

RawResult raw_exchange(int netns_fd, const std::string& ip, std::uint16_t port, const std::string& bytes,
                       std::size_t piece, std::size_t want) {
  RawResult r;
  in_netns(netns_fd, [&] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return;
    }
    r.connected = true;
    for (std::size_t i = 0; i < bytes.size(); i += piece) {
      const std::size_t n = std::min(piece, bytes.size() - i);
      if (::send(fd, bytes.data() + i, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) break;
      if (piece < bytes.size()) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    char buf[4096];
    while (r.received.size() < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        r.eof = true;
        break;
      }
      r.received.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
  });
  return r;
}

TEST_F(InterceptTest, ProxyUnawareHttpsToAnAllowedNameIsTunnelledToTheSniName) {
  start_proxy(proxy_args());
  RunResult r = agent_curl({"https://allowed.test/"});
  ASSERT_EQ(r.exit_code, 0) << r.err << "\n" << proxy_->stderr_text();
  EXPECT_NE(r.out.find("s_server"), std::string::npos) << r.out;  // openssl's -www page
  auto line = log_line_with({"CONNECT", "allowed.test:443", "TCP_TUNNEL"});
  ASSERT_TRUE(line) << awf::testing::read_file(dir_.file("access.log"));
  DetailedLine d = parse_detailed(*line);
  EXPECT_EQ(d.status, "200");
  EXPECT_EQ(d.code, "TCP_TUNNEL:HIER_DIRECT");
  EXPECT_EQ(d.url, "allowed.test:443");
  EXPECT_EQ(d.dest, origin_ip_ + ":443");
}

TEST_F(InterceptTest, ProxyUnawareHttpToAnAllowedNameIsForwardedWithItsHost) {
  start_proxy(proxy_args());
  RunResult r = agent_curl({"http://allowed.test/some/path?q=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err << "\n" << proxy_->stderr_text();
  EXPECT_EQ(r.out, "hello from " + origin_ip_ + "\n");
  EXPECT_NE(web_->last_head().find("GET /some/path?q=1 HTTP/1.1"), std::string::npos) << web_->last_head();
  EXPECT_NE(web_->last_head().find("Host: allowed.test"), std::string::npos) << web_->last_head();
  auto line = log_line_with({"GET", "http://allowed.test/some/path?", "TCP_MISS"});
  ASSERT_TRUE(line) << awf::testing::read_file(dir_.file("access.log"));
  DetailedLine d = parse_detailed(*line);
  EXPECT_EQ(d.status, "200");
  EXPECT_EQ(d.dest, origin_ip_ + ":80");
  EXPECT_EQ(d.host, "allowed.test");
}

TEST_F(InterceptTest, DeniedNamesFailFastAtDnsAndAtTheTlsAndHttpFrontEnds) {
  start_proxy(proxy_args());
  auto t0 = std::chrono::steady_clock::now();
  // The name does not even resolve for the agent.
  RunResult dns = agent_curl({"https://denied.test/"});
  EXPECT_EQ(dns.exit_code, 6) << dns.err;  // CURLE_COULDNT_RESOLVE_HOST
  // Resolved by hand, the TLS front end says no with an alert.
  RunResult tls = agent_curl({"--resolve", "denied.test:443:" + origin_ip_, "https://denied.test/"});
  EXPECT_EQ(tls.exit_code, 35) << tls.err;  // CURLE_SSL_CONNECT_ERROR
  EXPECT_NE(tls.err.find("access denied"), std::string::npos) << tls.err;
  RunResult http = agent_curl({"-o", "/dev/null", "-w", "%{http_code}", "--resolve", "denied.test:80:" + origin_ip_,
                               "http://denied.test/"});
  EXPECT_EQ(http.out, "403");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_TRUE(log_line_with({"DNS", "denied.test", "TCP_DENIED"}));
  EXPECT_TRUE(log_line_with({"CONNECT", "denied.test:443", "403 TCP_DENIED"}));
  EXPECT_TRUE(log_line_with({"GET", "http://denied.test/", "403 TCP_DENIED"}));
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(InterceptTest, TheSniDecidesWhereTheConnectionGoesNotTheDialledAddress) {
  start_proxy(proxy_args());
  // The client dials an address where nothing listens; the SNI names an
  // allowed host, and that is where the proxy goes.
  RunResult r = agent_curl({"--connect-to", "allowed.test:443:" + other_ip_ + ":443", "https://allowed.test/"});
  ASSERT_EQ(r.exit_code, 0) << r.err << "\n" << proxy_->stderr_text();
  auto line = log_line_with({"CONNECT", "allowed.test:443", "TCP_TUNNEL"});
  ASSERT_TRUE(line);
  EXPECT_EQ(parse_detailed(*line).dest, origin_ip_ + ":443");
  // audit.jsonl records where the client was headed (and was not taken).
  const std::string audit = awf::testing::read_file(dir_.file("audit.jsonl"));
  EXPECT_NE(audit.find("\"original_dest\":\"" + other_ip_ + ":443\""), std::string::npos) << audit;
  // The Host header names an allowed host, the SNI a denied one: denied.
  RunResult denied = agent_curl({"--resolve", "denied.test:443:" + origin_ip_, "-H", "Host: allowed.test",
                                 "https://denied.test/"});
  EXPECT_EQ(denied.exit_code, 35) << denied.err;
}

TEST_F(InterceptTest, WithoutAHostHeaderTheDialledAddressIsDecidedAsAnIpLiteral) {
  start_proxy(proxy_args());
  RawResult r = raw_exchange(netns_fd_.get(), origin_ip_, 80, "GET / HTTP/1.0\r\nUser-Agent: old\r\n\r\n", 1024, 12);
  ASSERT_TRUE(r.connected);
  EXPECT_EQ(r.received.rfind("HTTP/1.1 403", 0), 0u) << r.received;
  EXPECT_TRUE(log_line_with({"GET", "http://" + origin_ip_ + "/", "403 TCP_DENIED"}))
      << awf::testing::read_file(dir_.file("access.log"));
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(InterceptTest, AClientHelloSplitIntoOneByteSegmentsIsStillRead) {
  start_proxy(proxy_args());
  const std::string hello = corpus_file("done__curl-7.88-allowed.test.bin");
  ASSERT_GT(hello.size(), 100u);
  RawResult r = raw_exchange(netns_fd_.get(), other_ip_, 443, hello, 1, 5);
  ASSERT_TRUE(r.connected);
  // The origin's answer: a TLS handshake record (its ServerHello).
  ASSERT_GE(r.received.size(), 5u) << "eof=" << r.eof << "\n" << proxy_->stderr_text();
  EXPECT_EQ(static_cast<unsigned char>(r.received[0]), 0x16);
  EXPECT_TRUE(log_line_with({"CONNECT", "allowed.test:443", "TCP_TUNNEL"}));
}

TEST_F(InterceptTest, GarbageOn443IsDeniedAndLoggedWithTheDialledAddress) {
  start_proxy(proxy_args());
  RawResult r = raw_exchange(netns_fd_.get(), other_ip_, 443, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 64, 1);
  ASSERT_TRUE(r.connected);
  EXPECT_TRUE(r.received.empty());  // not TLS: no alert, just a close
  EXPECT_TRUE(r.eof);
  auto line = log_line_with({"CONNECT", other_ip_ + ":443", "403 TCP_DENIED"});
  ASSERT_TRUE(line) << awf::testing::read_file(dir_.file("access.log"));
  EXPECT_NE(proxy_->stderr_text().find("not_tls"), std::string::npos);
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(InterceptTest, AHelloWithoutSniGetsAFatalAlertAndADenial) {
  start_proxy(proxy_args());
  const std::string hello = corpus_file("no_sni__openssl-3.0-noservername.bin");
  ASSERT_GT(hello.size(), 50u);
  RawResult r = raw_exchange(netns_fd_.get(), other_ip_, 443, hello, hello.size(), 7);
  ASSERT_TRUE(r.connected);
  ASSERT_EQ(r.received.size(), 7u) << proxy_->stderr_text();
  EXPECT_EQ(static_cast<unsigned char>(r.received[0]), 0x15);  // alert record
  EXPECT_EQ(static_cast<unsigned char>(r.received[5]), 0x02);  // fatal
  EXPECT_TRUE(log_line_with({"CONNECT", other_ip_ + ":443", "403 TCP_DENIED"}));
  EXPECT_NE(proxy_->stderr_text().find("no_sni"), std::string::npos);
}

TEST_F(InterceptTest, Ipv6ConnectionsAreInterceptedToo) {
  if (!runtime::has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this host";
  start_proxy(proxy_args());
  // Dialled [2001:db8::1]:443 inside the namespace (it never leaves: the
  // namespace has only lo): redirected to the IPv6 twin of the tls-intercept
  // listener; the SNI still decides and the origin is IPv4. (::1 itself is
  // the agent's own localhost and is not redirected.)
  RunResult r = agent_curl({"--resolve", "allowed.test:443:[2001:db8::1]", "https://allowed.test/"});
  ASSERT_EQ(r.exit_code, 0) << r.err << "\n" << proxy_->stderr_text();
  auto line = log_line_with({"CONNECT", "allowed.test:443", "TCP_TUNNEL"});
  ASSERT_TRUE(line);
  EXPECT_EQ(parse_detailed(*line).client.rfind("::1:", 0), 0u) << *line;
  RunResult http = agent_curl({"--resolve", "allowed.test:80:[2001:db8::1]", "http://allowed.test/"});
  EXPECT_EQ(http.out, "hello from " + origin_ip_ + "\n") << http.err;
}

TEST_F(InterceptTest, DigOfAnAllowedNameAnswersAndOfADeniedNameIsRefusedAndLogged) {
  AWF_REQUIRE_FACILITY(have_program("dig"), "dig");
  start_proxy(proxy_args());
  RunResult ok = in_agent({"dig", "+time=3", "+tries=1", "allowed.test", "A"});
  EXPECT_NE(ok.out.find("status: NOERROR"), std::string::npos) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(origin_ip_), std::string::npos) << ok.out;
  RunResult refused = in_agent({"dig", "+time=3", "+tries=1", "denied.test", "A"});
  EXPECT_NE(refused.out.find("status: REFUSED"), std::string::npos) << refused.out << refused.err;
  auto line = log_line_with({"DNS", "dns://denied.test/A"});
  ASSERT_TRUE(line) << awf::testing::read_file(dir_.file("access.log"));
  DetailedLine d = parse_detailed(*line);
  EXPECT_EQ(d.host, "denied.test");
  EXPECT_EQ(d.dest, "-:-");
  EXPECT_EQ(d.version, "-");
  EXPECT_EQ(d.status, "403");
  EXPECT_EQ(d.code, "TCP_DENIED:HIER_NONE");
  // Allowed queries are not access-log lines.
  EXPECT_FALSE(log_line_with({"dns://allowed.test"}, 200ms));
}

TEST_F(InterceptTest, DnsOverTcpIsFilteredAndForwardedToo) {
  AWF_REQUIRE_FACILITY(have_program("dig"), "dig");
  start_proxy(proxy_args());
  RunResult ok = in_agent({"dig", "+tcp", "+time=3", "+tries=1", "allowed.test", "A"});
  EXPECT_NE(ok.out.find("status: NOERROR"), std::string::npos) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(origin_ip_), std::string::npos) << ok.out;
  RunResult refused = in_agent({"dig", "+tcp", "+time=3", "+tries=1", "denied.test", "TXT"});
  EXPECT_NE(refused.out.find("status: REFUSED"), std::string::npos) << refused.out << refused.err;
  EXPECT_TRUE(log_line_with({"DNS", "dns://denied.test/TXT"}));
}

TEST_F(InterceptTest, RefusalsCanBeNxdomainAndNeverReachTheUpstream) {
  AWF_REQUIRE_FACILITY(have_program("dig"), "dig");
  auto args = proxy_args();
  args.insert(args.end(), {"--dns-refuse-code", "nxdomain"});
  start_proxy(args);
  RunResult r = in_agent({"dig", "+time=3", "+tries=1", "denied.test", "A"});
  EXPECT_NE(r.out.find("status: NXDOMAIN"), std::string::npos) << r.out;
  EXPECT_EQ(dns_->queries(), 0u);  // never asked upstream
}

TEST_F(InterceptTest, OpenDnsPolicyForwardsNamesThePolicyDoesNotAllow) {
  AWF_REQUIRE_FACILITY(have_program("dig"), "dig");
  auto args = proxy_args();
  args.insert(args.end(), {"--dns-policy", "open"});
  start_proxy(args);
  RunResult r = in_agent({"dig", "+time=3", "+tries=1", "denied.test", "A"});
  EXPECT_NE(r.out.find("status: NOERROR"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(origin_ip_), std::string::npos) << r.out;
}

TEST_F(InterceptTest, TheProxyDialsWhatTheAgentResolved) {
  AWF_REQUIRE_FACILITY(have_program("dig"), "dig");
  start_proxy(proxy_args());
  RunResult ok = in_agent({"dig", "+time=3", "+tries=1", "allowed.test", "A"});
  ASSERT_NE(ok.out.find(origin_ip_), std::string::npos) << ok.out;
  const std::size_t asked = dns_->queries();
  // curl skips DNS (--resolve); the proxy's connect to allowed.test uses the
  // answer the agent got instead of asking the upstream again.
  RunResult r = agent_curl({"--resolve", "allowed.test:443:" + origin_ip_, "https://allowed.test/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dns_->queries(), asked);
}

TEST_F(InterceptTest, AnAllowedNameResolvingToLoopbackIsRefusedWithoutTheOptIn) {
  start_proxy(proxy_args(/*opt_in_private=*/false));
  RunResult r = agent_curl({"--resolve", "allowed.test:443:" + origin_ip_, "https://allowed.test/"});
  EXPECT_EQ(r.exit_code, 35) << r.err;
  auto line = log_line_with({"CONNECT", "allowed.test:443", "403 TCP_DENIED"});
  ASSERT_TRUE(line) << awf::testing::read_file(dir_.file("access.log"));
  EXPECT_NE(proxy_->stderr_text().find("private_address"), std::string::npos) << proxy_->stderr_text();
  RunResult http = agent_curl({"-o", "/dev/null", "-w", "%{http_code}", "--resolve", "allowed.test:80:" + origin_ip_,
                               "http://allowed.test/"});
  EXPECT_EQ(http.out, "403");
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(InterceptTest, TheHealthCheckProbesTheForwardListenerWithoutALogLine) {
  start_proxy(proxy_args());
  RunResult ok = in_agent({AWF_PROXY_BIN, "--health-check", "127.0.0.1:3128"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  RunResult bad = in_agent({AWF_PROXY_BIN, "--health-check", "127.0.0.1:3999"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unhealthy"), std::string::npos) << bad.err;
  // A request that is logged, then nothing from the probe before it.
  RunResult r = agent_curl({"-o", "/dev/null", "http://allowed.test/"});
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("health"), std::string::npos) << lines[0];
}

TEST_F(InterceptTest, EveryHandedOverListenerIsServedAndNamedOnStartup) {
  start_proxy(proxy_args());
  const std::string err = proxy_->stderr_text();
  for (const char* kind : {"(http-intercept, socket activation)", "(tls-intercept, socket activation)",
                           "(dns-udp, socket activation)", "(dns-tcp, socket activation)"}) {
    EXPECT_NE(err.find(std::string("127.0.0.1:") + (std::string(kind).find("http") != std::string::npos ? "3129 "
                                                     : std::string(kind).find("tls") != std::string::npos ? "3130 "
                                                                                                          : "53 ") +
                       kind),
              std::string::npos)
        << err;
  }
  // The implicit 127.0.0.1:3128 of the host namespace was not bound.
  EXPECT_FALSE(awf::testing::wait_for_port("127.0.0.1", 3128, 100ms) &&
               err.find("listening on 127.0.0.1:3128\n") != std::string::npos);
  // The forward listener inside serves as a proxy.
  RunResult fwd = in_agent({"curl", "-sS", "--max-time", "10", "-x", "http://127.0.0.1:3128", "http://allowed.test/"});
  EXPECT_EQ(fwd.out, "hello from " + origin_ip_ + "\n") << fwd.err;
  if (runtime::has_ipv6_loopback()) {
    // And the IPv6 twins: HTTP over ::1 to the forward listener.
    RunResult v6 = in_agent({"curl", "-sS", "--max-time", "10", "-x", "http://[::1]:3128", "http://allowed.test/"});
    EXPECT_EQ(v6.out, "hello from " + origin_ip_ + "\n") << v6.err;
  }
}

}  // namespace
}  // namespace awf::proxy_test
