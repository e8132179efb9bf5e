// Refusals an agent can act on: every 403 the proxy writes names its reason
// in X-Proxy-Error and in the body, with the flag that would allow the
// request where one can; audit.jsonl carries the same code as "reason".
// Real awf-proxy and curl (or a raw client for CONNECT).
#include <string>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

class DenyReasonTest : public ProxyTest {
 protected:
  // The last audit record's "reason", "" when it has none.
  std::string audit_reason(std::size_t lines) const {
    auto audit = log_lines(lines, "audit.jsonl");
    if (audit.size() < lines) return "<missing record>";
    const std::string& last = audit[lines - 1];
    const std::string key = "\"reason\":\"";
    const auto at = last.find(key);
    if (at == std::string::npos) return "";
    return last.substr(at + key.size(), last.find('"', at + key.size()) - at - key.size());
  }
};

TEST_F(DenyReasonTest, EachPolicyRefusalNamesItsReasonAndWhatWouldAllowIt) {
  start_proxy({"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test"});
  struct Case {
    std::string url;
    const char* reason;
    std::string hint;  // a line the body must hold ("" for none)
  } cases[] = {
      {web_url("other.test", "/x"), "not_in_allowlist", "to allow it: --allow-domains other.test\n"},
      {web_url("blocked.allowed.test"), "blocklisted", "to allow it: remove \"blocked.allowed.test\" from --block-domains\n"},
      {"http://web.allowed.test:1/", "port_not_allowed", "to allow it: --allow-host-ports 1\n"},
      {"http://" + std::string(kWebIp) + ":" + std::to_string(web_->port()) + "/", "ip_literal",
       "to allow it: use the host name"},
  };
  std::size_t lines = 0;
  for (const Case& c : cases) {
    RunResult r = curl({"-i", c.url});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.out;
    EXPECT_EQ(header_value(r.out, "X-Proxy-Error"), c.reason) << r.out;
    EXPECT_NE(r.out.find(std::string("reason: ") + c.reason), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.hint), std::string::npos) << r.out;
    EXPECT_EQ(audit_reason(++lines), c.reason) << c.url;
  }
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(DenyReasonTest, ARefusedConnectCarriesTheReasonToo) {
  start_proxy({"--allow-domains", "allowed.test"});
  const std::string response = raw("CONNECT other.test:" + std::to_string(tls_->port()) +
                                   " HTTP/1.1\r\nHost: other.test:" + std::to_string(tls_->port()) + "\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 403", 0), 0u) << response;
  EXPECT_EQ(header_value(response, "X-Proxy-Error"), "not_in_allowlist") << response;
  EXPECT_NE(response.find("to allow it: --allow-domains other.test\n"), std::string::npos) << response;
  EXPECT_EQ(audit_reason(1), "not_in_allowlist");
}

TEST_F(DenyReasonTest, PrivateAddressesAndCredentialsHaveTheirOwnReasons) {
  // Without --allow-private-ranges an allowed name on loopback is refused.
  start_proxy({"--listen", "127.0.0.1:0", "--hosts-file", hosts_file(), "--allow-host-ports", ports(),
               "--enable-host-access", "--log-dir", log_dir(), "--allow-domains", "allowed.test", "--enable-dlp"},
              /*with_base=*/false);
  RunResult r = curl({"-i", web_url("web.allowed.test")});
  EXPECT_EQ(header_value(r.out, "X-Proxy-Error"), "private_address") << r.out;
  EXPECT_NE(r.out.find("--allow-private-ranges"), std::string::npos) << r.out;
  EXPECT_EQ(audit_reason(1), "private_address");

  RunResult dlp = curl({"-i", web_url("web.allowed.test", "/ghp_" + std::string(36, 'Q'))});
  EXPECT_EQ(header_value(dlp.out, "X-Proxy-Error"), "credential_in_url") << dlp.out;
  EXPECT_EQ(audit_reason(2), "credential_in_url");
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(DenyReasonTest, AllowedRequestsAndOriginErrorsCarryNoReason) {
  start_proxy({"--allow-domains", "allowed.test"});
  RunResult ok = curl({"-i", web_url("web.allowed.test")});
  EXPECT_EQ(ok.out.rfind("HTTP/1.1 200", 0), 0u) << ok.out;
  EXPECT_EQ(header_value(ok.out, "X-Proxy-Error"), "");
  EXPECT_EQ(audit_reason(1), "");
  // An origin that is not there: a 503 of the proxy's, not a refusal.
  RunResult down = curl({"-i", "http://web.allowed.test:" + std::to_string(refused_port_) + "/"});
  EXPECT_EQ(down.out.rfind("HTTP/1.1 503", 0), 0u) << down.out;
  EXPECT_EQ(header_value(down.out, "X-Proxy-Error"), "");
  EXPECT_EQ(audit_reason(2), "");
}

}  // namespace
}  // namespace awf::proxy_test
