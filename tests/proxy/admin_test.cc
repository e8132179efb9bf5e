// The admin listener (--admin-listen) of the real awf-proxy, driven with
// curl and dig: /metrics read back by the Prometheus client library's own
// text parser and compared with what the test did, /healthz, /policy read
// by Python's JSON parser, the refusals of the tiny HTTP server and of a
// non-loopback address at start.
#include <signal.h>

#include <algorithm>

#include "awf/testing/facility.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

// Every sample of an exposition, as Python's prometheus_client parses it:
// "TYPE NAME{k=v,...} VALUE", labels sorted, integral values without ".0".
constexpr const char* kParseMetrics = R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))
        value = int(s.value) if s.value == int(s.value) else s.value
        print(family.type, s.name + '{' + labels + '}', value)
)";

// /policy's JSON, as Python's json module reads it, one fact a line.
constexpr const char* kParsePolicy = R"(
import json, sys
d = json.load(open(sys.argv[1]))
print('counts', d['allow_rules'], d['block_rules'])
for r in d['rules']:
    print('rule', r['list'], r['scope'], r['text'])
print('generation', d['generation'], 'reloads', d['reloads']['ok'], d['reloads']['failed'])
print('mode', d['policy_mode'], 'dns', d['dns_policy'], 'dlp', d['enable_dlp'], 'bump', d['ssl_bump'])
print('upstream', d['upstream_proxy'])
)";

class AdminTest : public ProxyTest {
 protected:
  void start_with_admin(std::vector<std::string> extra, bool with_base = true) {
    // Debian's package serves Debian's interpreter, which another python3
    // earlier on PATH (pyenv, a venv) does not see.
    for (const char* candidate : {"/usr/bin/python3", "python3"}) {
      if (awf::testing::run({candidate, "-c", "import prometheus_client.parser"}).exit_code == 0) {
        python_ = candidate;
        break;
      }
    }
    AWF_REQUIRE_FACILITY(!python_.empty(), "python3-prometheus-client (scripts/install-deps.sh)");
    extra.insert(extra.end(), {"--admin-listen", "127.0.0.1:0"});
    start_proxy(extra, with_base);
    admin_port_ = port_of("(admin)");
    ASSERT_NE(admin_port_, 0) << proxy_->stderr_text();
  }

  std::uint16_t port_of(const std::string& kind) const {
    for (const auto& line : split(proxy_->stderr_text(), '\n')) {
      if (line.find("listening on 127.0.0.1:") == std::string::npos || line.find(kind) == std::string::npos) continue;
      const std::string address = line.substr(0, line.rfind(" ("));
      return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    }
    return 0;
  }

  // An admin request with curl, not through the proxy: "STATUS\nBODY".
  RunResult admin(const std::string& path, std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "--noproxy", "*",
                                     "-o", dir_.file("admin.out"), "-w", "%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("http://127.0.0.1:" + std::to_string(admin_port_) + path);
    return awf::testing::run(argv, 15s);
  }

  // /metrics, parsed; each line one sample.
  std::vector<std::string> samples() const {
    RunResult r = admin("/metrics");
    EXPECT_EQ(r.out, "200") << r.err;
    RunResult parsed = awf::testing::run({python_, "-c", kParseMetrics, dir_.file("admin.out")});
    EXPECT_EQ(parsed.exit_code, 0) << parsed.err << awf::testing::read_file(dir_.file("admin.out"));
    return split(parsed.out, '\n');
  }

  static bool has(const std::vector<std::string>& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  }

  // Scrapes until every wanted sample is there (records reach the counters
  // through the log writer, up to 50 ms later) or 10 s passed; returns the last.
  std::vector<std::string> samples_with(const std::vector<std::string>& wanted) const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      std::vector<std::string> got = samples();
      bool all = true;
      for (const auto& w : wanted) all = all && has(got, w);
      if (all || std::chrono::steady_clock::now() > deadline) {
        std::string text;
        for (const auto& g : got) text += g + "\n";
        for (const auto& w : wanted) EXPECT_TRUE(has(got, w)) << "missing: " << w << "\nparsed:\n" << text;
        return got;
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  std::uint16_t admin_port_ = 0;
  std::string python_;  // an interpreter that has prometheus_client
};

TEST_F(AdminTest, MetricsCountTheRequestsThatWereMadeByFrontEndDecisionAndReason) {
  auto dns = awf::testing::DnsStub::start("127.0.0.1", {{"allowed.test", {kWebIp}}});
  ASSERT_TRUE(dns);
  start_with_admin({"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test",
                    "--listen-http-intercept", "127.0.0.1:0", "--listen-dns", "127.0.0.1:0",
                    "--dns-servers", "127.0.0.1:" + std::to_string(dns->port())});
  if (HasFatalFailure() || IsSkipped()) return;
  // Nothing happened yet: no request series, zero everywhere else.
  std::vector<std::string> before = samples_with({"gauge awf_proxy_active_tunnels{} 0",
                                                  "counter awf_proxy_dns_queries_total{answer=forwarded} 0",
                                                  "counter awf_proxy_reloads_total{result=ok} 0",
                                                  "histogram awf_proxy_request_duration_seconds_count{} 0"});
  for (const auto& line : before) EXPECT_EQ(line.find("awf_proxy_requests_total"), std::string::npos) << line;

  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("api.allowed.test", "/x")), 200);
  EXPECT_EQ(status_of("https://secure.allowed.test:" + std::to_string(tls_->port()) + "/", {"-k"}), 200);
  EXPECT_EQ(status_of(web_url("other.test")), 403);
  EXPECT_EQ(status_of(web_url("blocked.allowed.test")), 403);
  auto intercepted = TcpClient::connect("127.0.0.1", port_of("(http-intercept)"));
  ASSERT_TRUE(intercepted);
  intercepted->send("GET / HTTP/1.1\r\nHost: other.test:" + std::to_string(web_->port()) + "\r\n\r\n");
  EXPECT_EQ(intercepted->read_response(5s).rfind("HTTP/1.1 403", 0), 0u);
  intercepted.reset();
  const std::string dns_port = std::to_string(port_of("(dns-udp)"));
  if (awf::testing::run({"sh", "-c", "command -v dig"}).exit_code == 0) {
    EXPECT_NE(awf::testing::run({"dig", "+time=3", "+tries=1", "-p", dns_port, "@127.0.0.1", "allowed.test"})
                  .out.find("status: NOERROR"),
              std::string::npos);
    EXPECT_NE(awf::testing::run({"dig", "+time=3", "+tries=1", "-p", dns_port, "@127.0.0.1", "denied.test"})
                  .out.find("status: REFUSED"),
              std::string::npos);
  } else {
    AWF_REQUIRE_FACILITY(false, "dig (dnsutils)");
  }

  std::vector<std::string> after = samples_with({
      "counter awf_proxy_requests_total{decision=allowed,listener=forward,reason=allowed} 3",
      "counter awf_proxy_requests_total{decision=denied,listener=forward,reason=not_in_allowlist} 1",
      "counter awf_proxy_requests_total{decision=denied,listener=forward,reason=blocklisted} 1",
      "counter awf_proxy_requests_total{decision=denied,listener=http_intercept,reason=not_in_allowlist} 1",
      "counter awf_proxy_requests_total{decision=denied,listener=dns,reason=not_allowed} 1",
      "counter awf_proxy_dns_queries_total{answer=forwarded} 1",
      "counter awf_proxy_dns_queries_total{answer=refused} 1",
      "histogram awf_proxy_request_duration_seconds_count{} 7",
      "histogram awf_proxy_request_duration_seconds_bucket{le=+Inf} 7",
      "gauge awf_proxy_active_tunnels{} 0",
      "gauge awf_proxy_active_connections{} 0",
  });
  // Bytes to clients: what the access log's Squid line adds up to is not
  // in the awf format, so only that they were counted.
  bool counted_bytes = false;
  for (const auto& line : after) {
    if (line.rfind("counter awf_proxy_bytes_total{direction=to_client} ", 0) == 0) {
      counted_bytes = std::stoull(line.substr(line.rfind(' ') + 1)) > 0;
    }
  }
  EXPECT_TRUE(counted_bytes);
  bool build_info = false;
  for (const auto& line : after) build_info = build_info || line.rfind("gauge awf_proxy_build_info{version=", 0) == 0;
  EXPECT_TRUE(build_info);
}

TEST_F(AdminTest, RequestsAreCountedWithoutALogDirectoryToo) {
  // No --log-dir: the access lines go to stderr, and are counted all the same.
  start_with_admin({"--listen", "127.0.0.1:0", "--hosts-file", hosts_file(), "--allow-private-ranges", "127.0.0.0/8",
                    "--enable-host-access", "--allow-host-ports", ports(), "--allow-domains", "allowed.test"},
                   false);
  if (HasFatalFailure() || IsSkipped()) return;
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("other.test")), 403);
  samples_with({"counter awf_proxy_requests_total{decision=allowed,listener=forward,reason=allowed} 1",
                "counter awf_proxy_requests_total{decision=denied,listener=forward,reason=not_in_allowlist} 1"});
  EXPECT_NE(proxy_->stderr_text().find("TCP_DENIED:HIER_NONE http://other.test:"), std::string::npos);
}

TEST_F(AdminTest, AnOpenTunnelIsAnActiveTunnelUntilItCloses) {
  start_with_admin({"--allow-domains", "allowed.test"});
  if (HasFatalFailure() || IsSkipped()) return;
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  const std::string authority = "echo.allowed.test:" + std::to_string(echo_->port());
  c->send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  EXPECT_EQ(c->read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 200", 0), 0u);
  samples_with({"gauge awf_proxy_active_tunnels{} 1", "gauge awf_proxy_active_connections{} 1"});
  c.reset();
  samples_with({"gauge awf_proxy_active_tunnels{} 0", "gauge awf_proxy_active_connections{} 0",
                "counter awf_proxy_requests_total{decision=allowed,listener=forward,reason=allowed} 1"});
}

TEST_F(AdminTest, PolicyShowsTheRulesAndReloadsAreCounted) {
  awf::testing::write_file(dir_.file("allow.txt"), "allowed.test\nhttps://secure.allowed.test\n");
  start_with_admin({"--allow-domains-file", dir_.file("allow.txt"), "--block-domains", "blocked.allowed.test"});
  if (HasFatalFailure() || IsSkipped()) return;
  auto policy = [&] {
    RunResult r = admin("/policy");
    EXPECT_EQ(r.out, "200") << r.err;
    RunResult parsed = awf::testing::run({python_, "-c", kParsePolicy, dir_.file("admin.out")});
    EXPECT_EQ(parsed.exit_code, 0) << parsed.err << awf::testing::read_file(dir_.file("admin.out"));
    return split(parsed.out, '\n');
  };
  std::vector<std::string> first = policy();
  for (const char* line : {"counts 2 1", "rule allow both allowed.test", "rule allow https https://secure.allowed.test",
                           "rule block both blocked.allowed.test", "generation 1 reloads 0 0",
                           "mode enforce dns allowlist dlp False bump False", "upstream None"}) {
    EXPECT_TRUE(has(first, line)) << "missing: " << line;
  }
  // A good reload, then one whose file no longer compiles.
  awf::testing::write_file(dir_.file("allow.txt"), "allowed.test\nnew.test\nthird.test\n");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(proxy_->wait_for_stderr("policy reloaded", 10s));
  std::vector<std::string> second = policy();
  EXPECT_TRUE(has(second, "counts 3 1"));
  EXPECT_TRUE(has(second, "rule allow both new.test"));
  EXPECT_TRUE(has(second, "generation 2 reloads 1 0"));
  awf::testing::write_file(dir_.file("allow.txt"), "not a domain!\n");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(proxy_->wait_for_stderr("policy reload failed", 10s));
  EXPECT_TRUE(has(policy(), "generation 2 reloads 1 1"));
  samples_with({"counter awf_proxy_reloads_total{result=ok} 1", "counter awf_proxy_reloads_total{result=failed} 1",
                "gauge awf_proxy_policy_generation{} 2"});
}

TEST_F(AdminTest, AChangedAdminAddressWaitsForARestart) {
  awf::testing::write_file(dir_.file("c.yaml"), "allow-domains: [allowed.test]\n");
  start_with_admin({"--config", dir_.file("c.yaml")});
  if (HasFatalFailure() || IsSkipped()) return;
  awf::testing::write_file(dir_.file("c.yaml"), "allow-domains: [allowed.test]\nadmin-allow-non-loopback: true\n");
  proxy_->signal(SIGHUP);
  auto warning = proxy_->wait_for_stderr("need a restart", 10s);
  ASSERT_TRUE(warning) << proxy_->stderr_text();
  EXPECT_NE(warning->find("admin-allow-non-loopback"), std::string::npos) << *warning;
  // Still served where it was, and the reload was a good one.
  samples_with({"counter awf_proxy_reloads_total{result=ok} 1"});
}

TEST_F(AdminTest, OnlyGetOnKnownPathsIsServed) {
  start_with_admin({"--allow-domains", "allowed.test"});
  if (HasFatalFailure() || IsSkipped()) return;
  RunResult health = admin("/healthz");
  EXPECT_EQ(health.out, "200");
  EXPECT_EQ(awf::testing::read_file(dir_.file("admin.out")), "ok\n");
  EXPECT_EQ(admin("/metrics", {"-X", "POST", "-d", "x"}).out, "405");
  EXPECT_EQ(admin("/healthz", {"-X", "DELETE"}).out, "405");
  EXPECT_EQ(admin("/", {}).out, "404");
  EXPECT_EQ(admin("/metrics/../policy", {"--path-as-is"}).out, "404");
  // A head larger than the admin listener takes, and one that never ends.
  auto big = TcpClient::connect("127.0.0.1", admin_port_);
  ASSERT_TRUE(big);
  big->send("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(16 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(big->read_response(5s).rfind("HTTP/1.1 431", 0), 0u);
  auto garbage = TcpClient::connect("127.0.0.1", admin_port_);
  ASSERT_TRUE(garbage);
  garbage->send("NOT HTTP\r\n\r\n");
  EXPECT_EQ(garbage->read_response(5s).rfind("HTTP/1.1 400", 0), 0u);
  // Nothing through the admin listener is a proxied transaction.
  EXPECT_EQ(awf::testing::read_file(dir_.file("access.log")), "");
}

TEST_F(AdminTest, HealthzIsUnavailableWhileTheProxyDrains) {
  start_with_admin({"--allow-domains", "allowed.test", "--shutdown-timeout", "20"});
  if (HasFatalFailure() || IsSkipped()) return;
  EXPECT_EQ(admin("/healthz").out, "200");
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  const std::string authority = "echo.allowed.test:" + std::to_string(echo_->port());
  c->send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  EXPECT_EQ(c->read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 200", 0), 0u);
  proxy_->signal(SIGTERM);
  ASSERT_TRUE(proxy_->wait_for_stderr("draining", 10s));
  EXPECT_EQ(admin("/healthz").out, "503");
  EXPECT_EQ(awf::testing::read_file(dir_.file("admin.out")), "draining\n");
  c.reset();  // the tunnel ends; the drain finishes and TearDown sees exit 0
}

TEST_F(AdminTest, ANonLoopbackAdminAddressIsRefusedAtStart) {
  auto p = Process::spawn({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--hosts-file", hosts_file(), "--dns-servers",
                           "127.0.0.1:1", "--allow-domains", "allowed.test", "--admin-listen", "192.0.2.1:9090"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->wait(10s), std::optional<int>(1));
  const std::string err = p->stderr_text();
  EXPECT_NE(err.find("--admin-listen \"192.0.2.1:9090\""), std::string::npos) << err;
  EXPECT_NE(err.find("--admin-allow-non-loopback"), std::string::npos) << err;
  EXPECT_EQ(err.find("ready"), std::string::npos) << err;
}

}  // namespace
}  // namespace awf::proxy_test
