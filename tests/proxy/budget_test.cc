// Budgets per registrable domain through the real awf-proxy and curl (or a
// raw client): requests per second, concurrent tunnels and bytes per run,
// all names under one registrable domain counted together; over budget is a
// 429 with Retry-After and X-Proxy-Error, logged with the budget named.
#include <sys/stat.h>

#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, ARequestsPerSecondBudgetCoversEveryNameOfTheDomain) {
  // One request every two seconds: slow enough that a loaded machine's
  // curl start-up cannot refill the bucket between the requests.
  start_proxy({"--allow-domains", "allowed.test,other.test", "--budget-rps", "0.5"});
  // web. and api.allowed.test are one budget: allowed.test's.
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  RunResult over = curl({"-i", web_url("api.allowed.test", "/second")});
  EXPECT_EQ(over.out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << over.out;
  EXPECT_EQ(header_value(over.out, "X-Proxy-Error"), "budget_rps") << over.out;
  const std::string retry = header_value(over.out, "Retry-After");
  EXPECT_TRUE(retry == "1" || retry == "2") << over.out;
  EXPECT_NE(over.out.find("allowed.test, with every name under it, has spent its --budget-rps"), std::string::npos)
      << over.out;
  // Another domain has its own budget.
  EXPECT_EQ(status_of(web_url("other.test")), 200);
  // The bucket refills at the rate.
  std::this_thread::sleep_for(2100ms);
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(web_->requests(), 3u);
  auto audit = log_lines(4, "audit.jsonl");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_NE(audit[1].find("\"status\":429"), std::string::npos) << audit[1];
  EXPECT_NE(audit[1].find("\"reason\":\"budget_rps\""), std::string::npos) << audit[1];
}

TEST_F(ProxyTest, ATunnelBudgetCountsOpenTunnelsAndGivesPlacesBack) {
  start_proxy({"--allow-domains", "allowed.test", "--budget-tunnels", "1"});
  const std::string connect = "CONNECT secure.allowed.test:" + std::to_string(tls_->port()) +
                              " HTTP/1.1\r\nHost: secure.allowed.test\r\n\r\n";
  auto first = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(first);
  first->send(connect);
  EXPECT_EQ(first->read_response(5s).rfind("HTTP/1.1 200", 0), 0u);
  const std::string second = raw(connect);
  EXPECT_EQ(second.rfind("HTTP/1.1 429", 0), 0u) << second;
  EXPECT_EQ(header_value(second, "X-Proxy-Error"), "budget_tunnels") << second;
  first.reset();  // the first tunnel ends: its place comes back
  std::string third;
  for (int i = 0; i < 50 && third.rfind("HTTP/1.1 200", 0) != 0; ++i) {
    std::this_thread::sleep_for(20ms);
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c);
    c->send(connect);
    third = c->read_response(5s);
  }
  EXPECT_EQ(third.rfind("HTTP/1.1 200", 0), 0u) << third;
  // Plain requests are not tunnels.
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
}

TEST_F(ProxyTest, ABytesBudgetIsSpentForTheRun) {
  start_proxy({"--allow-domains", "allowed.test", "--budget-bytes", "4K"});
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/bytes/3000")), 200);
  EXPECT_EQ(status_of(web_url("api.allowed.test", "/bytes/3000")), 200);  // starts under, ends over
  RunResult over = curl({"-i", web_url("web.allowed.test", "/bytes/10")});
  EXPECT_EQ(over.out.rfind("HTTP/1.1 429", 0), 0u) << over.out;
  EXPECT_EQ(header_value(over.out, "X-Proxy-Error"), "budget_bytes") << over.out;
  EXPECT_EQ(header_value(over.out, "Retry-After"), "") << "spent for the run: no time helps";
  EXPECT_EQ(web_->requests(), 2u);
}

TEST_F(ProxyTest, EachRequestInsideABumpedConnectionSpendsTheBudget) {
  // A per-test CA, and an origin whose certificate names the site.
  ASSERT_EQ(::mkdir(dir_.file("site").c_str(), 0700), 0);
  auto site = Origin::start({.host = "127.0.0.15", .kind = Origin::Kind::https, .cert_dir = dir_.file("site"),
                             .port = 0, .cert_names = "DNS:site.allowed.test"});
  ASSERT_TRUE(site);
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + "127.0.0.15 site.allowed.test\n");
  auto ca = awf::testing::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-keyout", dir_.file("ca-key.pem"), "-out", dir_.file("ca.pem"), "-days", "1",
                               "-subj", "/CN=awf budget test CA"},
                              30s);
  ASSERT_EQ(ca.exit_code, 0) << ca.err;
  ASSERT_EQ(::chmod(dir_.file("ca-key.pem").c_str(), 0600), 0);
  start_proxy({"--allow-domains", "allowed.test", "--allow-host-ports", ports() + "," + std::to_string(site->port()),
               "--ssl-bump-cert", dir_.file("ca.pem"), "--ssl-bump-key", dir_.file("ca-key.pem"),
               "--ssl-bump-upstream-ca", dir_.file("site/origin-cert.pem"), "--budget-rps", "0.5"});
  const std::string url = "https://site.allowed.test:" + std::to_string(site->port()) + "/";
  // Two requests on one bumped connection: the CONNECT itself is not
  // charged, the first request inside takes the token, the second is over.
  RunResult r = curl({"--cacert", dir_.file("ca.pem"), "-s", "-o", "/dev/null", "-o", "/dev/null", "-w",
                      "%{http_code} ", url, url});
  EXPECT_EQ(r.out, "200 429 ") << r.err;
  EXPECT_EQ(site->requests(), 1u);
  auto audit = log_lines(3, "audit.jsonl");
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_NE(audit[2].find("\"reason\":\"budget_rps\""), std::string::npos) << audit[2];
}

TEST_F(ProxyTest, ReportModeNotesAnOverBudgetRequestAndLetsItThrough) {
  start_proxy({"--allow-domains", "allowed.test", "--budget-rps", "0.5", "--policy-mode", "report"});
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  auto audit = log_lines(2, "audit.jsonl");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_NE(audit[1].find("\"would_deny\":\"budget_rps\""), std::string::npos) << audit[1];
}

}  // namespace
}  // namespace awf::proxy_test
