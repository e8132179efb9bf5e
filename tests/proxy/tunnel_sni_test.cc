// The SNI check of CONNECT tunnels to port 443 through the real awf-proxy:
// a tunnel is relayed only once its ClientHello names a host the policy
// allows. Domain fronting (CONNECT an allowed name, then a hello for another),
// plain bytes, nameless hellos and silent clients are refused before any byte
// reaches the origin; --tunnel-sni-check off relays them raw. The origins
// listen on port 443 of 127.0.0.x in a network namespace of the suite's own.
#include <unistd.h>

#include "../intercept/hello_builder.h"
#include "awf/testing/facility.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

using awf::intercept::test::Bytes;
using awf::intercept::test::client_hello_message;
using awf::intercept::test::in_records;
using awf::intercept::test::supported_versions_tls13;
using awf::intercept::test::typical_hello;

std::string text_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

class TunnelSniTest : public ProxyTest {
 protected:
  static void SetUpTestSuite() { netns_error_ = awf::testing::enter_private_network(); }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace with origins on port 443";
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for origins on port 443: " + netns_error_);
    web_ = Origin::start({kWebIp, Origin::Kind::http, ""});
    echo_ = Origin::start({kEchoIp, Origin::Kind::echo, "", 443});
    tls_ = Origin::start({kTlsIp, Origin::Kind::https, dir_.path(), 443});
    ASSERT_TRUE(web_ && echo_ && tls_);
    refused_port_ = awf::testing::unused_port(kWebIp);
    // Every name leads to an origin that would answer: a refusal is the
    // proxy's doing, never a failed lookup.
    awf::testing::write_file(hosts_file(), std::string(kEchoIp) +
                                               " echo.allowed.test other.test blocked.allowed.test\n" + kTlsIp +
                                               " secure.allowed.test fronted.test\n");
  }

  std::vector<std::string> policy_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // A connection through the proxy to authority, after its 200.
  std::optional<TcpClient> tunnel(const std::string& authority) const {
    auto c = TcpClient::connect("127.0.0.1", port_);
    if (!c) return std::nullopt;
    c->send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
    const std::string head = c->read_until("\r\n\r\n");
    if (head.rfind("HTTP/1.1 200", 0) != 0) return std::nullopt;
    return c;
  }

  // Sends `bytes` into a tunnel to the echo origin and returns everything
  // that comes back before the proxy closes (eof tells whether it did).
  std::string through_echo_tunnel(const std::string& authority, const std::string& bytes, bool* eof) const {
    auto c = tunnel(authority);
    if (!c) return "no tunnel";
    c->send(bytes);
    return c->read_to_eof(5s, eof);
  }

  std::string audit_log(std::size_t lines) const {
    log_lines(lines, "audit.jsonl");
    return awf::testing::read_file(dir_.file("audit.jsonl"));
  }

  static inline std::string netns_error_;
};

// TLS alert records as the proxy sends them: level fatal (2), then the code.
const std::string kAccessDenied("\x15\x03\x03\x00\x02\x02\x31", 7);
const std::string kHandshakeFailure("\x15\x03\x03\x00\x02\x02\x28", 7);

TEST_F(TunnelSniTest, AnAllowedNameInTheHelloIsRelayedUntouched) {
  start_proxy(policy_args());
  // Real curl, real TLS: the hello names the host CONNECT named.
  RunResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_code}", "https://secure.allowed.test/"});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(tls_->requests(), 1u);
  // A hello naming another allowed host is relayed too, byte for byte.
  const std::string hello = text_of(typical_hello("secure.allowed.test"));
  auto c = tunnel("echo.allowed.test:443");
  ASSERT_TRUE(c);
  c->send(hello);
  EXPECT_EQ(c->read_exactly(hello.size(), 5s), hello);
  c.reset();
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.method = "CONNECT",
                                           .status = "200",
                                           .code = "TCP_TUNNEL:HIER_DIRECT",
                                           .url = "secure.allowed.test:443"});
  // The hello named another host than CONNECT did: audit.jsonl says which.
  // The usual line stays as Squid writes it.
  const std::vector<std::string> audit = split(audit_log(2), '\n');
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].find("\"sni\""), std::string::npos) << audit[0];
  EXPECT_NE(audit[1].find("\"sni\":\"secure.allowed.test\""), std::string::npos) << audit[1];
}

TEST_F(TunnelSniTest, AHelloForANameThePolicyRefusesEndsTheTunnelBeforeTheOrigin) {
  start_proxy(policy_args());
  // Not on the allowlist, and on the blocklist: both are fronting attempts.
  for (const std::string name : {"other.test", "blocked.allowed.test"}) {
    bool eof = false;
    const std::string back = through_echo_tunnel("echo.allowed.test:443", text_of(typical_hello(name)), &eof);
    // Only the proxy's access_denied alert comes back: had the hello been
    // relayed, the echo origin would have returned it.
    EXPECT_EQ(back, kAccessDenied) << name;
    EXPECT_TRUE(eof) << name;
  }
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.host = "echo.allowed.test:443",
                                           .dest = "-:-",
                                           .method = "CONNECT",
                                           .status = "403",
                                           .code = "TCP_DENIED:HIER_NONE",
                                           .url = "other.test:443"});
  expect_fields(parse_detailed(lines[1]), {.status = "403", .code = "TCP_DENIED:HIER_NONE",
                                           .url = "blocked.allowed.test:443"});
  const std::string audit = audit_log(2);
  EXPECT_NE(audit.find("\"sni\":\"other.test\""), std::string::npos) << audit;
  // No page can carry the reason inside a tunnel: the record does.
  EXPECT_NE(audit.find("\"reason\":\"not_in_allowlist\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"reason\":\"blocklisted\""), std::string::npos) << audit;
  EXPECT_NE(proxy_->stderr_text().find("its ClientHello names other.test: policy: not_in_allowlist"),
            std::string::npos)
      << proxy_->stderr_text();

  // A real client fronting: openssl names fronted.test in its hello after
  // CONNECT secure.allowed.test:443. No handshake with the origin.
  RunResult r = awf::testing::run({"openssl", "s_client", "-proxy", proxy_addr(), "-connect",
                                   "secure.allowed.test:443", "-servername", "fronted.test", "-brief"},
                                  20s);
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("CONNECTION ESTABLISHED"), std::string::npos) << r.out;
  EXPECT_EQ(tls_->requests(), 0u);
  EXPECT_NE(log_lines(3).back().find("fronted.test:443"), std::string::npos);
}

TEST_F(TunnelSniTest, PlainBytesANamelessHelloAndSilenceAreRefused) {
  start_proxy(policy_args({"--client-hello-timeout", "1"}));
  bool eof = false;
  // HTTP where TLS belongs: no alert (the client does not speak TLS), a close.
  EXPECT_EQ(through_echo_tunnel("echo.allowed.test:443", "GET / HTTP/1.1\r\nHost: echo.allowed.test\r\n\r\n", &eof),
            "");
  EXPECT_TRUE(eof);
  // A hello with no server_name.
  const Bytes nameless = in_records(client_hello_message({supported_versions_tls13()}));
  EXPECT_EQ(through_echo_tunnel("echo.allowed.test:443", text_of(nameless), &eof), kHandshakeFailure);
  EXPECT_TRUE(eof);
  // Half a hello, then nothing: cut at --client-hello-timeout.
  const std::string hello = text_of(typical_hello("echo.allowed.test"));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(through_echo_tunnel("echo.allowed.test:443", hello.substr(0, 20), &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  auto lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& line : lines) {
    expect_fields(parse_detailed(line), {.method = "CONNECT", .status = "403", .code = "TCP_DENIED:HIER_NONE",
                                         .url = "echo.allowed.test:443"});
  }
  for (const auto& record : split(audit_log(3), '\n')) {
    EXPECT_NE(record.find("\"reason\":\"unacceptable_client_hello\""), std::string::npos) << record;
  }
  const std::string err = proxy_->stderr_text();
  EXPECT_NE(err.find("unacceptable ClientHello: not_tls"), std::string::npos) << err;
  EXPECT_NE(err.find("unacceptable ClientHello: no_sni"), std::string::npos) << err;
  EXPECT_NE(err.find("incomplete ClientHello (ClientHello timeout after 20 bytes)"), std::string::npos) << err;
}

TEST_F(TunnelSniTest, AnAllowedAddressNeedsNoNameButANamedHostIsStillChecked) {
  // An allowlisted IPv4 literal: clients send no server_name for an address.
  start_proxy({"--allow-domains", std::string(kEchoIp) + ",allowed.test"});
  const std::string authority = std::string(kEchoIp) + ":443";
  const std::string nameless = text_of(in_records(client_hello_message({supported_versions_tls13()})));
  auto c = tunnel(authority);
  ASSERT_TRUE(c);
  c->send(nameless);
  EXPECT_EQ(c->read_exactly(nameless.size(), 5s), nameless);
  c.reset();
  bool eof = false;
  EXPECT_EQ(through_echo_tunnel(authority, text_of(typical_hello("other.test")), &eof), kAccessDenied);
}

TEST_F(TunnelSniTest, OffRelaysTunnelsUnchecked) {
  start_proxy(policy_args({"--tunnel-sni-check", "off"}));
  for (const std::string& bytes : {text_of(typical_hello("other.test")), std::string("GET / HTTP/1.1\r\n\r\n")}) {
    auto c = tunnel("echo.allowed.test:443");
    ASSERT_TRUE(c);
    c->send(bytes);
    EXPECT_EQ(c->read_exactly(bytes.size(), 5s), bytes);
  }
  auto lines = log_lines(2, "access.log", 3s);
  for (const auto& line : lines) EXPECT_EQ(line.find("TCP_DENIED"), std::string::npos) << line;
}

TEST_F(TunnelSniTest, TunnelsToOtherPortsAreNotPeekedAt) {
  // A server-first protocol must not wait for a hello: the echo origin on a
  // port of --allow-host-ports gets plain bytes at once.
  echo_ = Origin::start({kEchoIp, Origin::Kind::echo, ""});
  ASSERT_TRUE(echo_);
  start_proxy(policy_args());
  const std::string authority = "echo.allowed.test:" + std::to_string(echo_->port());
  auto c = tunnel(authority);
  ASSERT_TRUE(c);
  c->send("plain");
  EXPECT_EQ(c->read_exactly(5, 5s), "plain");
}

TEST(TunnelSniFlag, AValueOtherThanOnOrOffIsNamed) {
  RunResult r = awf::testing::run({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--tunnel-sni-check", "maybe"}, 10s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tunnel-sni-check"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("maybe"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace awf::proxy_test
