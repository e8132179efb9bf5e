// SSL bump through the real awf-proxy and curl: a per-test CA made with
// OpenSSL, an HTTPS origin with its own throwaway certificate, CONNECT
// tunnels and redirected TLS terminated with a certificate minted for the
// name, each request decided on its https URL (--allow-urls, --enable-dlp)
// and logged; excluded names spliced; an origin whose certificate does not
// verify is a 502 naming why.
#include <sys/stat.h>

#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

const std::string kToken = "ghp_" + std::string(36, 'Q');

class SslBumpTest : public ProxyTest {
 protected:
  static constexpr const char* kSiteIp = "127.0.0.14";
  static constexpr const char* kInterceptIp = "127.0.0.114";

  void SetUp() override {
    ProxyTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(::mkdir(dir_.file("site").c_str(), 0700), 0);
    site_ = Origin::start({.host = kSiteIp,
                           .kind = Origin::Kind::https,
                           .cert_dir = dir_.file("site"),
                           .port = 0,
                           .cert_names = "DNS:site.test,DNS:excluded.test,DNS:blocked.site.test"});
    ASSERT_TRUE(site_);
    awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + kSiteIp +
                                               " site.test excluded.test blocked.site.test other.site.test\n" +
                                               kInterceptIp + " intercepted.test\n");
    auto ca = awf::testing::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key(), "-out", ca_cert(),
                                 "-days", "1", "-subj", "/CN=awf test CA"},
                                30s);
    ASSERT_EQ(ca.exit_code, 0) << ca.err;
    ASSERT_EQ(::chmod(ca_key().c_str(), 0600), 0);
  }

  std::string ca_cert() const { return dir_.file("ca.pem"); }
  std::string ca_key() const { return dir_.file("ca-key.pem"); }
  std::string site_cert() const { return dir_.file("site/origin-cert.pem"); }
  std::string site_url(const std::string& path, const std::string& host = "site.test") const {
    return "https://" + host + ":" + std::to_string(site_->port()) + path;
  }

  // The fixture's flags, the site's port allowed, the CA, and `extra`.
  void start_bumping(std::vector<std::string> extra, bool trust_site = true) {
    std::vector<std::string> args = {"--allow-host-ports", ports() + "," + std::to_string(site_->port()),
                                     "--allow-domains", "site.test,excluded.test,intercepted.test",
                                     "--ssl-bump-cert", ca_cert(), "--ssl-bump-key", ca_key()};
    if (trust_site) args.insert(args.end(), {"--ssl-bump-upstream-ca", site_cert()});
    args.insert(args.end(), extra.begin(), extra.end());
    start_proxy(args);
  }

  RunResult bumped_curl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--cacert", ca_cert()});
    return curl(args);
  }

  std::unique_ptr<Origin> site_;
};

TEST_F(SslBumpTest, ConnectIsTerminatedWithACertificateMintedForTheName) {
  start_bumping({});
  RunResult r = bumped_curl({"-v", site_url("/echo?q=secret")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GET /echo?q=secret HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Host: site.test:" + std::to_string(site_->port())), std::string::npos) << r.out;
  // What curl verified: our CA's signature, the name in the SAN.
  EXPECT_NE(r.err.find("CN=site.test"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("issuer: CN=awf test CA"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("subjectAltName: host \"site.test\" matched"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ALPN: server accepted http/1.1"), std::string::npos) << r.err;

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  const std::string authority = "site.test:" + std::to_string(site_->port());
  expect_fields(parse_detailed(lines[0]),
                {.method = "CONNECT", .status = "200", .code = "TCP_TUNNEL:HIER_DIRECT", .url = authority});
  expect_fields(parse_detailed(lines[1]), {.host = authority,
                                           .dest = std::string(kSiteIp) + ":" + std::to_string(site_->port()),
                                           .method = "GET",
                                           .status = "200",
                                           .code = "TCP_MISS:HIER_DIRECT",
                                           .url = "https://" + authority + "/echo?"});
  EXPECT_EQ(awf::testing::read_file(dir_.file("access.log")).find("secret"), std::string::npos);
}

TEST_F(SslBumpTest, OneClientConnectionCarriesSeveralRequestsOverOneOriginConnection) {
  start_bumping({});
  RunResult r = bumped_curl({site_url("/bytes/100000"), "-o", "/dev/null", site_url("/chunked/70000"), "-o",
                             "/dev/null", site_url("/upload"), "--data-binary", "hello", "-o", "/dev/null", "-w", "%{http_code},"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200,200,200,") << r.err;
  EXPECT_EQ(site_->connections(), 1u);
  auto lines = log_lines(4);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(parse_detailed(lines[3]).method, "POST");
  EXPECT_EQ(parse_detailed(lines[3]).url, site_url("/upload"));
}

TEST_F(SslBumpTest, BodiesCrossInBothFramingsAndHeadHasNone) {
  start_bumping({});
  awf::testing::write_file(dir_.file("body"), std::string(200000, 'b'));
  RunResult chunked = bumped_curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + dir_.file("body"),
                                   site_url("/upload")});
  ASSERT_EQ(chunked.exit_code, 0) << chunked.err;
  EXPECT_EQ(chunked.out.rfind("len=200000 sha256=", 0), 0u) << chunked.out;
  RunResult sized = bumped_curl({"--data-binary", "@" + dir_.file("body"), site_url("/upload")});
  EXPECT_EQ(sized.out, chunked.out);
  RunResult head = bumped_curl({"-I", site_url("/bytes/5000")});
  ASSERT_EQ(head.exit_code, 0) << head.err;
  EXPECT_NE(head.out.find("Content-Length: 5000"), std::string::npos) << head.out;
  RunResult big = bumped_curl({"-s", "-o", "/dev/null", "-w", "%{size_download}", site_url("/chunked/3000000")});
  EXPECT_EQ(big.out, "3000000") << big.err;
}

// A body that runs until the close: whole, the TLS session ends with
// close_notify and the client keeps it; cut short by an origin reset, no
// close_notify comes, the client sees the cut, and the log says
// TCP_MISS_ABORTED with the bytes relayed.
TEST_F(SslBumpTest, ABodyUntilTheCloseEndsWithCloseNotifyAndOneCutShortIsSeenAndLoggedAsAborted) {
  start_bumping({"--log-format", "squid"});
  const std::string body = dir_.file("body");
  RunResult whole = bumped_curl({"-o", body, "-w", "%{http_code}", site_url("/unframed/30000")});
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(whole.out, "200") << whole.err;
  EXPECT_EQ(awf::testing::read_file(body), awf::testing::pattern_bytes(30000));
  RunResult cut = bumped_curl({"-o", body, "-w", "%{http_code}", site_url("/unframed-reset/30000")});
  EXPECT_NE(cut.exit_code, 0) << cut.err;
  EXPECT_EQ(awf::testing::read_file(body).size(), 30000u);
  EXPECT_EQ(status_of(web_url("other.test", "/denied")), 403) << "the policy holds alongside";
  // Each bumped request after its CONNECT line, then the denied one.
  auto lines = log_lines(5);
  ASSERT_EQ(lines.size(), 5u) << awf::testing::read_file(dir_.file("access.log"));
  EXPECT_NE(lines[1].find(" TCP_MISS/200 30078 GET " + site_url("/unframed/30000")), std::string::npos) << lines[1];
  EXPECT_NE(lines[3].find(" TCP_MISS_ABORTED/200 30078 GET " + site_url("/unframed-reset/30000")), std::string::npos)
      << lines[3];
  EXPECT_NE(lines[4].find(" TCP_DENIED/403 "), std::string::npos) << lines[4];
}

TEST_F(SslBumpTest, AllowUrlsAllowsMatchingRequestsAndDeniesTheRestInsideTls) {
  start_bumping({"--allow-urls", "https://site.test:" + std::to_string(site_->port()) + "/allowed/*"});
  RunResult ok = bumped_curl({"-s", "-w", "%{http_code}", "-o", "/dev/null", site_url("/allowed/x?y=1")});
  EXPECT_EQ(ok.out, "200") << ok.err;
  RunResult denied = bumped_curl({"-i", site_url("/private/x")});
  ASSERT_EQ(denied.exit_code, 0) << denied.err;
  EXPECT_NE(denied.out.find("\r\n\r\nHTTP/1.1 403 Forbidden\r\n"), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("--allow-urls"), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("X-Proxy-Error: url_not_allowed\r\n"), std::string::npos) << denied.out;
  EXPECT_EQ(site_->requests(), 1u);
  auto lines = log_lines(4);
  ASSERT_EQ(lines.size(), 4u);
  expect_fields(parse_detailed(lines[1]), {.method = "GET", .status = "200", .url = site_url("/allowed/x?")});
  expect_fields(parse_detailed(lines[3]), {.dest = "-:-",
                                           .method = "GET",
                                           .status = "403",
                                           .code = "TCP_DENIED:HIER_NONE",
                                           .url = site_url("/private/x")});
  auto audit = log_lines(4, "audit.jsonl");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_NE(audit[3].find("\"reason\":\"url_not_allowed\""), std::string::npos) << audit[3];
}

TEST_F(SslBumpTest, AHostHeaderNamingAnotherServerIsRefusedInsideTls) {
  start_bumping({});
  RunResult r = bumped_curl({"-i", "-H", "Host: other.site.test", site_url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\r\n\r\nHTTP/1.1 403 Forbidden\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("X-Proxy-Error: host_mismatch\r\n"), std::string::npos) << r.out;
  EXPECT_EQ(site_->requests(), 0u);
}

TEST_F(SslBumpTest, AllowUrlsMatchesEvenWhereTheBlocklistDeniesTheName) {
  // awf's order: the URL allows come before the blocklist.
  start_bumping({"--block-domains", "blocked.site.test", "--allow-urls",
                 "https://blocked.site.test:" + std::to_string(site_->port()) + "/open/*"});
  EXPECT_EQ(bumped_curl({"-s", "-w", "%{http_code}", "-o", "/dev/null", site_url("/open/a", "blocked.site.test")}).out,
            "200");
  EXPECT_EQ(bumped_curl({"-s", "-w", "%{http_code}", "-o", "/dev/null", site_url("/other", "blocked.site.test")}).out,
            "403");
  EXPECT_EQ(site_->requests(), 1u);
}

TEST_F(SslBumpTest, DlpRefusesACredentialInABumpedPathAndLogsItRedacted) {
  start_bumping({"--enable-dlp"});
  RunResult r = bumped_curl({"-i", site_url("/gist/" + kToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\r\n\r\nHTTP/1.1 403 Forbidden\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("github-token"), std::string::npos) << r.out;
  EXPECT_EQ(site_->requests(), 0u);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[1]), {.method = "GET",
                                           .status = "403",
                                           .code = "TCP_DENIED:HIER_NONE",
                                           .url = site_url("/gist/[dlp:github-token]")});
  auto audit = log_lines(2, "audit.jsonl");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_NE(audit[1].find("\"dlp\":\"github-token\""), std::string::npos) << audit[1];
  EXPECT_NE(audit[1].find("\"reason\":\"credential_in_url\""), std::string::npos) << audit[1];
  for (const char* file : {"access.log", "audit.jsonl"}) {
    EXPECT_EQ(awf::testing::read_file(log_dir() + "/" + file).find(kToken), std::string::npos) << file;
  }
}

TEST_F(SslBumpTest, ExcludedNamesAreSplicedWithTheOriginsOwnCertificate) {
  start_bumping({"--ssl-bump-exclude", "excluded.test"});
  RunResult r = curl({"-v", "--cacert", site_cert(), site_url("/echo", "excluded.test")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("issuer: CN=origin.test"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("awf test CA"), std::string::npos) << r.err;
  const DetailedLine d = only_log_line();
  expect_fields(d, {.method = "CONNECT", .status = "200", .code = "TCP_TUNNEL:HIER_DIRECT"});
}

TEST_F(SslBumpTest, ATunnelToAnExcludedNameCarriesAnyBytesAndOthersOnlyTls) {
  start_bumping({"--ssl-bump-exclude", "echo.allowed.test", "--allow-domains", "allowed.test"});
  const std::string authority = "echo.allowed.test:" + std::to_string(echo_->port());
  auto excluded = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(excluded);
  excluded->send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  EXPECT_EQ(excluded->read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  excluded->send("plain bytes");
  EXPECT_EQ(excluded->read_exactly(11), "plain bytes");
  // A bumped name's tunnel must open with TLS: plain bytes end it.
  auto bumped = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(bumped);
  const std::string other = "site.test:" + std::to_string(site_->port());
  bumped->send("CONNECT " + other + " HTTP/1.1\r\nHost: " + other + "\r\n\r\n");
  EXPECT_EQ(bumped->read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  bumped->send("plain bytes\r\n\r\n");
  bool eof = false;
  bumped->read_to_eof(5s, &eof);
  EXPECT_TRUE(eof);
  // The origin counts a connection when its accept loop runs, which on a
  // loaded machine can come after the proxy has already dropped it.
  for (int i = 0; i < 250 && site_->connections() < 1; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(site_->connections(), 1u) << "dialled for the CONNECT, nothing sent";
  EXPECT_EQ(site_->requests(), 0u);
}

TEST_F(SslBumpTest, AnOriginCertificateThatDoesNotVerifyIsA502NamingWhy) {
  start_bumping({}, /*trust_site=*/false);
  RunResult r = bumped_curl({"-i", site_url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\r\n\r\nHTTP/1.1 502 Bad Gateway\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("certificate verify failed: self-signed certificate"), std::string::npos) << r.out;
  EXPECT_EQ(site_->requests(), 0u);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[1]), {.method = "GET", .status = "502", .url = site_url("/echo")});
}

TEST_F(SslBumpTest, AnOriginThatNeverAnswersTheHandshakeIsA504AtTheConnectTimeout) {
  auto idle = awf::testing::IdleListener::open("127.0.0.15", 0, /*silent=*/false);
  ASSERT_TRUE(idle);
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + "127.0.0.15 mute.site.test\n");
  start_bumping({"--allow-host-ports", ports() + "," + std::to_string(site_->port()) + "," +
                                           std::to_string(idle->port()),
                 "--connect-timeout", "1"});
  const auto started = std::chrono::steady_clock::now();
  RunResult r = bumped_curl({"-i", "https://mute.site.test:" + std::to_string(idle->port()) + "/x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\r\n\r\nHTTP/1.1 504 Gateway Timeout\r\n"), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST_F(SslBumpTest, AClientThatDoesNotTrustTheCaGetsNoResponse) {
  start_bumping({});
  RunResult r = curl({site_url("/echo")});
  EXPECT_EQ(r.exit_code, 60) << r.err;  // CURLE_PEER_FAILED_VERIFICATION
  EXPECT_EQ(site_->requests(), 0u);
}

TEST_F(SslBumpTest, ThroughAParentProxyTheOriginTlsRidesItsTunnel) {
  // The parent alone resolves the names; the child knows none.
  TempDir parent_logs;
  auto parent = Process::spawn({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--hosts-file", hosts_file(),
                                "--allow-private-ranges", "127.0.0.0/8", "--enable-host-access", "--allow-host-ports",
                                std::to_string(site_->port()), "--log-dir", parent_logs.path(), "--threads", "1",
                                "--allow-domains", "site.test"});
  ASSERT_TRUE(parent->wait_for_stderr("awf-proxy: ready", 15s)) << parent->stderr_text();
  auto listen = parent->wait_for_stderr("listening on 127.0.0.1:", 1s);
  ASSERT_TRUE(listen);
  const std::string parent_port = listen->substr(listen->rfind(':') + 1);
  auto dns = awf::testing::DnsStub::start("127.0.0.1", {});
  ASSERT_TRUE(dns);
  awf::testing::write_file(parent_logs.file("child-hosts"), "");
  start_proxy({"--listen", "127.0.0.1:0", "--hosts-file", parent_logs.file("child-hosts"), "--dns-servers",
               "127.0.0.1:" + std::to_string(dns->port()), "--enable-host-access", "--allow-host-ports",
               std::to_string(site_->port()), "--log-dir", log_dir(), "--threads", "2", "--allow-domains", "site.test",
               "--upstream-proxy", "http://127.0.0.1:" + parent_port, "--ssl-bump-cert", ca_cert(), "--ssl-bump-key",
               ca_key(), "--ssl-bump-upstream-ca", site_cert()},
              /*with_base=*/false);
  RunResult r = bumped_curl({"-v", site_url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GET /echo HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("issuer: CN=awf test CA"), std::string::npos) << r.err;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[1]), {.dest = "127.0.0.1:" + parent_port,
                                           .method = "GET",
                                           .status = "200",
                                           .code = "TCP_MISS:DEFAULT_PARENT",
                                           .url = site_url("/echo")});
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<std::string> parent_lines;
  while (parent_lines.empty() && std::chrono::steady_clock::now() < deadline) {
    parent_lines = split(awf::testing::read_file(parent_logs.file("access.log")), '\n');
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(parent_lines.size(), 1u);
  expect_fields(parse_detailed(parent_lines[0]),
                {.method = "CONNECT", .code = "TCP_TUNNEL:HIER_DIRECT", .url = "site.test:" + std::to_string(site_->port())});
  parent->signal(SIGTERM);
  EXPECT_EQ(parent->wait(15s), std::optional<int>(0)) << parent->stderr_text();
}

TEST_F(SslBumpTest, RedirectedTlsIsBumpedToo) {
  ASSERT_EQ(::mkdir(dir_.file("intercepted").c_str(), 0700), 0);
  auto origin = Origin::start({.host = kInterceptIp,
                               .kind = Origin::Kind::https,
                               .cert_dir = dir_.file("intercepted"),
                               .port = 443,
                               .cert_names = "DNS:intercepted.test"});
  if (!origin && ::geteuid() != 0) GTEST_SKIP() << "port 443 needs root";
  ASSERT_TRUE(origin) << "cannot listen on " << kInterceptIp << ":443";
  start_bumping({"--listen-tls-intercept", "127.0.0.1:0", "--ssl-bump-upstream-ca",
                 dir_.file("intercepted/origin-cert.pem")});
  std::uint16_t tls_port = 0;
  for (const auto& line : split(proxy_->stderr_text(), '\n')) {
    if (line.find("(tls-intercept)") == std::string::npos) continue;
    tls_port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  ASSERT_NE(tls_port, 0);
  RunResult r = awf::testing::run({"curl", "-sS", "-v", "--max-time", "20", "--noproxy", "*", "--cacert", ca_cert(),
                                   "--connect-to", "intercepted.test:443:127.0.0.1:" + std::to_string(tls_port),
                                   "https://intercepted.test/echo"},
                                  30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GET /echo HTTP/1.1"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("issuer: CN=awf test CA"), std::string::npos) << r.err;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.method = "CONNECT", .status = "200", .url = "intercepted.test:443"});
  expect_fields(parse_detailed(lines[1]),
                {.method = "GET", .status = "200", .code = "TCP_MISS:HIER_DIRECT", .url = "https://intercepted.test/echo"});
}

}  // namespace
}  // namespace awf::proxy_test
