// --enable-dlp through the real awf-proxy and curl: a credential in a plain
// HTTP URL, a query or a CONNECT authority is refused with a 403 before
// anything reaches the origin, and the logs name the pattern but never hold
// the secret. Without the flag the same requests pass (the check is opt-in,
// as in awf).
#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

const std::string kToken = "ghp_" + std::string(36, 'Z');

TEST_F(ProxyTest, DlpRefusesACredentialInThePathAndLogsItRedacted) {
  start_proxy({"--allow-domains", "allowed.test", "--enable-dlp"});
  RunResult r = curl({"-i", web_url("web.allowed.test", "/gist/" + kToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("github-token"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kToken), std::string::npos) << r.out;
  EXPECT_EQ(web_->requests(), 0u);

  expect_fields(only_log_line(),
                {.dest = "-:-",
                 .method = "GET",
                 .status = "403",
                 .code = "TCP_DENIED:HIER_NONE",
                 .url = "http://web.allowed.test:" + std::to_string(web_->port()) + "/gist/[dlp:github-token]"});
  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_NE(audit[0].find("\"dlp\":\"github-token\""), std::string::npos) << audit[0];
  for (const char* file : {"access.log", "audit.jsonl"}) {
    EXPECT_EQ(awf::testing::read_file(log_dir() + "/" + file).find(kToken), std::string::npos) << file;
  }
  EXPECT_EQ(proxy_->stderr_text().find(kToken), std::string::npos) << proxy_->stderr_text();
}

TEST_F(ProxyTest, DlpRefusesCredentialsInTheQueryAndBehindEscapes) {
  start_proxy({"--allow-domains", "allowed.test", "--enable-dlp"});
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/api?access=" + kToken)), 403);
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/api?bearer=opaque")), 403);
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/api/%67hp_" + std::string(36, 'Y'))), 403);
  // Ordinary requests to the same host still pass.
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/api?page=2")), 200);
  EXPECT_EQ(web_->requests(), 1u);
  auto lines = log_lines(4);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) EXPECT_EQ(line.find(std::string(36, 'Y')), std::string::npos) << line;
}

TEST_F(ProxyTest, DlpRefusesACredentialInAConnectAuthority) {
  start_proxy({"--allow-domains", "*.allowed.test", "--enable-dlp"});
  // A wildcard allows any label: the label is the exfiltration channel.
  const std::string host = "ghs_" + std::string(36, 'x') + ".allowed.test";
  RunResult r = curl({"-sk", "-o", "/dev/null", "-w", "%{http_connect}",
                      "https://" + host + ":" + std::to_string(tls_->port()) + "/"});
  EXPECT_EQ(r.out, "403") << r.err;
  EXPECT_EQ(tls_->connections(), 0u);
  const DetailedLine d = only_log_line();
  expect_fields(d, {.method = "CONNECT", .status = "403", .code = "TCP_DENIED:HIER_NONE"});
  EXPECT_EQ(d.url, "[dlp:github-token].allowed.test:" + std::to_string(tls_->port()));
  EXPECT_EQ(awf::testing::read_file(log_dir() + "/access.log").find(std::string(36, 'x')), std::string::npos);
}

TEST_F(ProxyTest, WithoutEnableDlpTheSameUrlsPass) {
  start_proxy({"--allow-domains", "allowed.test"});
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/gist/" + kToken)), 200);
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/api?bearer=opaque")), 200);
  EXPECT_EQ(web_->requests(), 2u);
}

}  // namespace
}  // namespace awf::proxy_test
