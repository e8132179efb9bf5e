// --policy-mode report through the real awf-proxy and curl: what the domain
// policy would refuse goes through and is logged with "would_deny"; what
// protects the host and the secrets (the SSRF guard, --enable-dlp) still
// refuses; the DNS front end answers names it would refuse.
#include <string>

#include "awf/testing/dns_stub.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

// The audit record's value for `key`, "" when absent.
std::string audit_field(const std::string& record, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  const auto at = record.find(k);
  if (at == std::string::npos) return "";
  return record.substr(at + k.size(), record.find('"', at + k.size()) - at - k.size());
}

TEST_F(ProxyTest, ReportModeLetsPolicyRefusalsThroughAndLogsWhatEnforceWouldHaveSaid) {
  start_proxy({"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test,secure.allowed.test",
               "--policy-mode", "report"});
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("other.test")), 200);
  EXPECT_EQ(status_of(web_url("blocked.allowed.test")), 200);
  RunResult tunnel = curl({"-k", "-o", "/dev/null", "-w", "%{http_connect} %{http_code}",
                           "https://secure.allowed.test:" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(tunnel.out, "200 200") << tunnel.err;
  EXPECT_EQ(web_->requests(), 3u);

  auto lines = log_lines(4);
  ASSERT_EQ(lines.size(), 4u);
  // The text line shows what happened: every request went to its origin.
  for (const auto& line : lines) EXPECT_EQ(parse_detailed(line).code.find("TCP_DENIED"), std::string::npos) << line;
  auto audit = log_lines(4, "audit.jsonl");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_EQ(audit_field(audit[0], "would_deny"), "");
  EXPECT_EQ(audit_field(audit[1], "would_deny"), "not_in_allowlist");
  EXPECT_EQ(audit_field(audit[2], "would_deny"), "blocklisted");
  EXPECT_EQ(audit_field(audit[3], "would_deny"), "blocklisted");
  for (const auto& record : audit) EXPECT_EQ(audit_field(record, "reason"), "") << record;
  EXPECT_NE(proxy_->stderr_text().find("report mode: would deny GET other.test:"), std::string::npos)
      << proxy_->stderr_text();
}

TEST_F(ProxyTest, ReportModeStillRefusesCredentialsAndPrivateAddresses) {
  // No --allow-private-ranges: the origins on loopback are the guard's.
  start_proxy({"--listen", "127.0.0.1:0", "--hosts-file", hosts_file(), "--enable-host-access", "--allow-host-ports",
               ports(), "--log-dir", log_dir(), "--allow-domains", "allowed.test", "--enable-dlp", "--policy-mode",
               "report"},
              /*with_base=*/false);
  RunResult guarded = curl({"-i", web_url("other.test")});
  EXPECT_EQ(guarded.out.rfind("HTTP/1.1 403", 0), 0u) << guarded.out;
  RunResult dlp = curl({"-i", web_url("web.allowed.test", "/ghp_" + std::string(36, 'R'))});
  EXPECT_EQ(dlp.out.rfind("HTTP/1.1 403", 0), 0u) << dlp.out;
  EXPECT_EQ(web_->requests(), 0u);
  auto audit = log_lines(2, "audit.jsonl");
  ASSERT_EQ(audit.size(), 2u);
  // The first was also outside the allowlist: both are said.
  EXPECT_EQ(audit_field(audit[0], "would_deny"), "not_in_allowlist");
  EXPECT_EQ(audit_field(audit[0], "reason"), "private_address");
  EXPECT_EQ(audit_field(audit[1], "reason"), "credential_in_url");
}

TEST_F(ProxyTest, ReportModeResolvesNamesTheDnsFrontEndWouldRefuse) {
  if (awf::testing::run({"sh", "-c", "command -v dig"}).exit_code != 0) GTEST_SKIP() << "dig is missing";
  auto dns = awf::testing::DnsStub::start("127.0.0.1", {{"denied.test", {kWebIp}}});
  ASSERT_TRUE(dns);
  start_proxy({"--allow-domains", "allowed.test", "--listen-dns", "127.0.0.1:0", "--dns-servers",
               "127.0.0.1:" + std::to_string(dns->port()), "--policy-mode", "report"});
  std::uint16_t dns_port = 0;
  for (const auto& line : split(proxy_->stderr_text(), '\n')) {
    if (line.find("(dns-udp)") != std::string::npos && line.find("listening on 127.0.0.1:") != std::string::npos) {
      dns_port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    }
  }
  ASSERT_NE(dns_port, 0) << proxy_->stderr_text();
  RunResult r = awf::testing::run({"dig", "+time=3", "+tries=1", "-p", std::to_string(dns_port), "@127.0.0.1",
                                   "denied.test"});
  EXPECT_NE(r.out.find("status: NOERROR"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(kWebIp), std::string::npos) << r.out;
  EXPECT_NE(proxy_->stderr_text().find("report mode: would refuse dns denied.test: not_allowed"), std::string::npos)
      << proxy_->stderr_text();
}

TEST_F(ProxyTest, EnforceIsTheDefaultAndRefuses) {
  start_proxy({"--allow-domains", "allowed.test", "--policy-mode", "enforce"});
  EXPECT_EQ(status_of(web_url("other.test")), 403);
  EXPECT_EQ(web_->requests(), 0u);
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit_field(audit[0], "would_deny"), "");
}

}  // namespace
}  // namespace awf::proxy_test
