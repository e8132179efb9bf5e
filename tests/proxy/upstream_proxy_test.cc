// --upstream-proxy through real processes: the proxy under test chains to a
// second awf-proxy on loopback (the "corporate" parent), which alone can
// resolve the origins' names. Plain HTTP reaches the parent in absolute
// form, tunnels as CONNECT; names under --upstream-bypass go direct; what
// the child denies never reaches the parent; a parent that refuses or is
// down is an error naming it. Both proxies' logs are checked.
#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

class UpstreamProxyTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    // The child resolves through this stub, which knows no name: whatever
    // reaches an origin was resolved by the parent.
    dns_ = awf::testing::DnsStub::start("127.0.0.1", {});
    ASSERT_TRUE(dns_);
    awf::testing::write_file(child_hosts_, "");
  }

  void TearDown() override {
    if (parent_) {
      parent_->signal(SIGTERM);
      EXPECT_EQ(parent_->wait(15s), std::optional<int>(0)) << parent_->stderr_text();
    }
    ProxyTest::TearDown();
  }

  // The parent: knows every origin name, allows `allow`.
  void start_parent(const std::string& allow = "allowed.test") {
    parent_ = Process::spawn({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--hosts-file", hosts_file(),
                              "--allow-private-ranges", "127.0.0.0/8", "--enable-host-access", "--allow-host-ports",
                              ports(), "--log-dir", parent_logs_.path(), "--threads", "1", "--allow-domains", allow});
    ASSERT_TRUE(parent_->wait_for_stderr("awf-proxy: ready", 15s)) << parent_->stderr_text();
    auto listen = parent_->wait_for_stderr("listening on 127.0.0.1:", 1s);
    ASSERT_TRUE(listen);
    parent_port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  }

  std::string parent_url() const { return "http://127.0.0.1:" + std::to_string(parent_port_); }

  // The proxy under test: an empty hosts file, the empty DNS stub, no
  // private ranges unless `extra` adds them, chained to `upstream`.
  void start_child(const std::string& upstream, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--hosts-file", child_hosts_,
                                     "--dns-servers", "127.0.0.1:" + std::to_string(dns_->port()),
                                     "--enable-host-access", "--allow-host-ports", ports(),
                                     "--log-dir", log_dir(), "--threads", "2",
                                     "--allow-domains", "allowed.test", "--upstream-proxy", upstream};
    args.insert(args.end(), extra.begin(), extra.end());
    start_proxy(args, /*with_base=*/false);
  }

  std::vector<std::string> parent_lines(std::size_t n) const {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto lines = split(awf::testing::read_file(parent_logs_.file("access.log")), '\n');
      if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(20ms);
    }
  }

  TempDir parent_logs_;
  std::string child_hosts_ = parent_logs_.file("child-hosts");
  std::unique_ptr<awf::testing::DnsStub> dns_;
  std::unique_ptr<Process> parent_;
  std::uint16_t parent_port_ = 0;
};

TEST_F(UpstreamProxyTest, PlainHttpReachesTheParentInAbsoluteFormAndKeepsItsConnection) {
  start_parent();
  start_child(parent_url());
  const std::string first = web_url("web.allowed.test", "/a?q=1"), second = web_url("web.allowed.test", "/b");
  RunResult r = curl({"-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n", first, second});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 1\n200 0\n");  // one client connection for both
  EXPECT_EQ(web_->requests(), 2u);
  EXPECT_NE(web_->request_heads().at(0).find("GET /a?q=1 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_EQ(dns_->queries(), 0u);  // the child never resolved the name

  const std::string parent = "127.0.0.1:" + std::to_string(parent_port_);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  // Both logs drop the query, as Squid does.
  const std::string logged_first = web_url("web.allowed.test", "/a?");
  expect_fields(parse_detailed(lines[0]), {.dest = parent,
                                           .method = "GET",
                                           .status = "200",
                                           .code = "TCP_MISS:DEFAULT_PARENT",
                                           .url = logged_first});
  expect_fields(parse_detailed(lines[1]), {.dest = parent, .status = "200", .code = "TCP_MISS:DEFAULT_PARENT"});
  // The parent saw absolute-form requests and went direct; the child kept
  // one connection to it for both.
  auto up = parent_lines(2);
  ASSERT_EQ(up.size(), 2u);
  const std::string web_dest = std::string(kWebIp) + ":" + std::to_string(web_->port());
  expect_fields(parse_detailed(up[0]), {.dest = web_dest,
                                        .method = "GET",
                                        .status = "200",
                                        .code = "TCP_MISS:HIER_DIRECT",
                                        .url = logged_first});
  expect_fields(parse_detailed(up[1]), {.url = second});
  EXPECT_EQ(parse_detailed(up[0]).client, parse_detailed(up[1]).client) << "one connection to the parent";
}

TEST_F(UpstreamProxyTest, HttpsIsTunnelledThroughTheParentWithItsOwnConnect) {
  start_parent();
  start_child(parent_url());
  const std::string authority = "secure.allowed.test:" + std::to_string(tls_->port());
  RunResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", "https://" + authority + "/x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 200");
  EXPECT_EQ(tls_->requests(), 1u);
  EXPECT_EQ(dns_->queries(), 0u);
  expect_fields(only_log_line(), {.dest = "127.0.0.1:" + std::to_string(parent_port_),
                                  .method = "CONNECT",
                                  .status = "200",
                                  .code = "TCP_TUNNEL:DEFAULT_PARENT",
                                  .url = authority});
  auto up = parent_lines(1);
  ASSERT_EQ(up.size(), 1u);
  expect_fields(parse_detailed(up[0]), {.dest = std::string(kTlsIp) + ":" + std::to_string(tls_->port()),
                                        .method = "CONNECT",
                                        .status = "200",
                                        .code = "TCP_TUNNEL:HIER_DIRECT",
                                        .url = authority});
}

TEST_F(UpstreamProxyTest, WhatTheChildDeniesNeverReachesTheParent) {
  start_parent("allowed.test,other.test");
  start_child(parent_url());
  EXPECT_EQ(status_of(web_url("other.test")), 403);
  RunResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_connect}",
                      "https://other.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(r.out, "403") << r.err;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) expect_fields(parse_detailed(line), {.dest = "-:-", .code = "TCP_DENIED:HIER_NONE"});
  EXPECT_EQ(awf::testing::read_file(parent_logs_.file("access.log")), "");
  EXPECT_EQ(web_->requests() + tls_->connections(), 0u);
}

TEST_F(UpstreamProxyTest, NamesUnderTheBypassGoDirect) {
  start_parent();
  awf::testing::write_file(child_hosts_, std::string(kWebIp) + " web.allowed.test\n");
  start_child(parent_url(), {"--upstream-bypass", ".web.allowed.test", "--allow-private-ranges", "127.0.0.0/8"});
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/direct")), 200);
  EXPECT_EQ(status_of(web_url("api.allowed.test", "/chained")), 200);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.dest = std::string(kWebIp) + ":" + std::to_string(web_->port()),
                                           .code = "TCP_MISS:HIER_DIRECT"});
  expect_fields(parse_detailed(lines[1]), {.dest = "127.0.0.1:" + std::to_string(parent_port_),
                                           .code = "TCP_MISS:DEFAULT_PARENT"});
  auto up = parent_lines(1);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_NE(up[0].find("/chained"), std::string::npos) << up[0];
}

TEST_F(UpstreamProxyTest, AParentsRefusalReachesTheClient) {
  start_parent("web.allowed.test");  // the parent's policy is narrower
  start_child(parent_url());
  // A tunnel the parent refuses: the client's CONNECT fails with 502.
  RunResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_connect}",
                      "https://secure.allowed.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(r.out, "502") << r.err;
  // Plain HTTP: the parent's own 403 page is the answer, passed on.
  RunResult plain = curl({"-i", web_url("api.allowed.test")});
  EXPECT_EQ(plain.out.rfind("HTTP/1.1 403", 0), 0u) << plain.out;
  EXPECT_EQ(tls_->connections() + web_->requests(), 0u);

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.method = "CONNECT", .status = "502"});
  expect_fields(parse_detailed(lines[1]), {.status = "403", .code = "TCP_MISS:DEFAULT_PARENT"});
  EXPECT_NE(proxy_->stderr_text().find("refused CONNECT with 403"), std::string::npos) << proxy_->stderr_text();
  auto up = parent_lines(2);
  ASSERT_EQ(up.size(), 2u);
  for (const auto& line : up) expect_fields(parse_detailed(line), {.code = "TCP_DENIED:HIER_NONE"});
}

TEST_F(UpstreamProxyTest, AParentThatIsDownIsA503NamingIt) {
  const std::string down = "http://" + std::string(kWebIp) + ":" + std::to_string(refused_port_);
  start_child(down);
  RunResult r = curl({"-i", web_url("web.allowed.test")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 503", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("upstream proxy " + down), std::string::npos) << r.out;
  RunResult tunnel = curl({"-k", "-o", "/dev/null", "-w", "%{http_connect}",
                           "https://secure.allowed.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(tunnel.out, "503") << tunnel.err;
  EXPECT_EQ(web_->requests() + tls_->connections(), 0u);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) EXPECT_EQ(parse_detailed(line).status, "503") << line;
}

TEST_F(UpstreamProxyTest, TransparentTlsGoesToTheParentAsConnectToTheNameItNamed) {
  start_parent();
  start_child(parent_url(), {"--listen-tls-intercept", "127.0.0.1:0"});
  std::uint16_t intercept = 0;
  for (const auto& line : split(proxy_->stderr_text(), '\n')) {
    if (line.find("(tls-intercept)") != std::string::npos && line.find("listening on 127.0.0.1:") != std::string::npos) {
      intercept = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    }
  }
  ASSERT_NE(intercept, 0) << proxy_->stderr_text();
  // Without a redirect the original port is 443; nothing listens there, so
  // the parent reports the failure, but the chained CONNECT names the host
  // the ClientHello asked for.
  RunResult r = awf::testing::run({"curl", "-sS", "-k", "--max-time", "20", "--noproxy", "*", "--connect-to",
                                   "secure.allowed.test:443:127.0.0.1:" + std::to_string(intercept),
                                   "https://secure.allowed.test/"});
  EXPECT_NE(r.exit_code, 0);
  auto up = parent_lines(1);
  ASSERT_EQ(up.size(), 1u);
  expect_fields(parse_detailed(up[0]), {.method = "CONNECT", .url = "secure.allowed.test:443"});
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  expect_fields(parse_detailed(lines[0]),
                {.dest = "127.0.0.1:" + std::to_string(parent_port_), .method = "CONNECT", .status = "502"});
  EXPECT_EQ(dns_->queries(), 0u);
}

}  // namespace
}  // namespace awf::proxy_test
