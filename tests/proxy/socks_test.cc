// The SOCKS5 front end (--listen-socks) through the real awf-proxy: real
// curl with --socks5-hostname (the proxy resolves) and --socks5 (curl
// resolves and sends an address), raw sockets for what curl never sends.
// Every request is decided as an HTTP CONNECT to the same host:port and
// logged as one; refusals get the SOCKS reply codes. Socket activation,
// --netns, the SNI check on port 443 (origins in a network namespace of the
// suite's own) and --upstream-proxy chaining are covered too.
#include <sys/stat.h>
#include <unistd.h>

#include "../intercept/hello_builder.h"
#include "awf/testing/facility.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

namespace fs = std::filesystem;

std::string bytes(std::initializer_list<int> b) {
  std::string out;
  for (int v : b) out += static_cast<char>(v);
  return out;
}

const std::string kGreeting = bytes({5, 1, 0});
const std::string kChosen = bytes({5, 0});

// A CONNECT (or another command) by name.
std::string request_by_name(const std::string& name, std::uint16_t port, int command = 1) {
  return bytes({5, command, 0, 3, static_cast<int>(name.size())}) + name + bytes({port >> 8, port & 0xFF});
}

std::string request_by_ipv4(std::initializer_list<int> address, std::uint16_t port, int command = 1) {
  return bytes({5, command, 0, 1}) + bytes(address) + bytes({port >> 8, port & 0xFF});
}

// The reply code of a reply message, or -1 when none came.
int reply_code(const std::string& reply) { return reply.size() >= 2 ? static_cast<unsigned char>(reply[1]) : -1; }

class SocksTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    // Names outside the hosts file end here, never at a real resolver.
    dns_ = awf::testing::DnsStub::start("127.0.0.1", {});
    ASSERT_TRUE(dns_);
  }

  void start_socks(std::vector<std::string> extra = {"--allow-domains", "allowed.test"}) {
    std::vector<std::string> args = {"--listen-socks", "127.0.0.1:0", "--dns-servers",
                                     "127.0.0.1:" + std::to_string(dns_->port())};
    args.insert(args.end(), extra.begin(), extra.end());
    start_proxy(args);
    socks_port_ = port_of("(socks");
    ASSERT_NE(socks_port_, 0) << proxy_->stderr_text();
  }

  std::uint16_t port_of(const std::string& kind) const {
    for (const auto& line : split(proxy_->stderr_text(), '\n')) {
      if (line.find("listening on 127.0.0.1:") == std::string::npos || line.find(kind) == std::string::npos) continue;
      const std::string at = line.substr(line.find("127.0.0.1:") + 10);
      return static_cast<std::uint16_t>(std::stoi(at));
    }
    return 0;
  }

  std::string socks_addr() const { return "127.0.0.1:" + std::to_string(socks_port_); }

  // curl through the SOCKS listener: `how` is --socks5-hostname or --socks5.
  RunResult socks_curl(const std::string& how, std::vector<std::string> args) const {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "20", how, socks_addr()};
    argv.insert(argv.end(), args.begin(), args.end());
    return awf::testing::run(argv, 30s);
  }

  // A raw client past the method negotiation.
  std::optional<TcpClient> greeted() const {
    auto c = TcpClient::connect("127.0.0.1", socks_port_);
    if (!c) return std::nullopt;
    c->send(kGreeting);
    if (c->read_exactly(2) != kChosen) return std::nullopt;
    return c;
  }

  std::string audit_log(std::size_t lines) const {
    log_lines(lines, "audit.jsonl");
    return awf::testing::read_file(dir_.file("audit.jsonl"));
  }

  std::string web_authority(const std::string& host) const { return host + ":" + std::to_string(web_->port()); }

  std::unique_ptr<awf::testing::DnsStub> dns_;
  std::uint16_t socks_port_ = 0;
};

TEST_F(SocksTest, AnAllowedNameIsTunnelledAndLoggedAsAConnect) {
  start_socks();
  RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", "-w", "%{http_code}", web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(web_->requests(), 1u);
  EXPECT_EQ(dns_->queries(), 0u);  // the hosts file answered, the proxy resolved
  const std::string authority = web_authority("web.allowed.test");
  expect_fields(only_log_line(), {.host = authority,
                                  .dest = std::string(kWebIp) + ":" + std::to_string(web_->port()),
                                  .version = "-",
                                  .method = "CONNECT",
                                  .status = "200",
                                  .code = "TCP_TUNNEL:HIER_DIRECT",
                                  .url = authority,
                                  .ua = "\"-\""});
  const std::string audit = audit_log(1);
  EXPECT_NE(audit.find("\"listener\":\"socks\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"decision\":\"TCP_TUNNEL\""), std::string::npos) << audit;
  // The forward listener's lines carry no such mark.
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  const std::vector<std::string> lines = split(audit_log(2), '\n');
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].find("\"listener\""), std::string::npos) << lines[1];
}

TEST_F(SocksTest, ADeniedNameGetsReplyTwoAndATcpDeniedLine) {
  start_socks({"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test"});
  std::size_t logged = 0;
  for (const std::string host : {"other.test", "blocked.allowed.test"}) {
    RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", web_url(host)});
    EXPECT_NE(r.exit_code, 0) << host;
    EXPECT_NE(r.err.find("(2)"), std::string::npos) << host << ": " << r.err;
    log_lines(++logged);  // a record is written once the connection closed: keep them in order
  }
  // A port the policy does not open: refused the same way, before any dial.
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_name("web.allowed.test", 25));
  EXPECT_EQ(reply_code(c->read_exactly(10)), 2);
  EXPECT_EQ(web_->requests(), 0u);
  auto lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u);
  expect_fields(parse_detailed(lines[0]), {.host = web_authority("other.test"),
                                           .dest = "-:-",
                                           .method = "CONNECT",
                                           .status = "403",
                                           .code = "TCP_DENIED:HIER_NONE",
                                           .url = web_authority("other.test")});
  expect_fields(parse_detailed(lines[1]), {.status = "403", .code = "TCP_DENIED:HIER_NONE"});
  expect_fields(parse_detailed(lines[2]), {.status = "403", .code = "TCP_DENIED:HIER_NONE", .url = "web.allowed.test:25"});
  EXPECT_NE(proxy_->stderr_text().find("port_not_allowed"), std::string::npos);
  const std::vector<std::string> audit = split(audit_log(3), '\n');
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_NE(audit[0].find("\"reason\":\"not_in_allowlist\""), std::string::npos) << audit[0];
  EXPECT_NE(audit[1].find("\"reason\":\"blocklisted\""), std::string::npos) << audit[1];
  EXPECT_NE(audit[2].find("\"reason\":\"port_not_allowed\""), std::string::npos) << audit[2];
}

TEST_F(SocksTest, InReportModeWhatThePolicyWouldRefuseGoesThroughAndIsNoted) {
  start_socks({"--allow-domains", "allowed.test", "--policy-mode", "report"});
  RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", "-w", "%{http_code}", web_url("other.test")});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(web_->requests(), 1u);
  expect_fields(only_log_line(), {.status = "200", .code = "TCP_TUNNEL:HIER_DIRECT", .url = web_authority("other.test")});
  const std::string audit = audit_log(1);
  EXPECT_NE(audit.find("\"would_deny\":\"not_in_allowlist\""), std::string::npos) << audit;
}

TEST_F(SocksTest, AllowedMethodsWithoutConnectRefuseATunnelThatIsNotBumped) {
  start_socks({"--allow-domains", "allowed.test", "--allowed-methods", "GET,HEAD"});
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_name("web.allowed.test", web_->port()));
  EXPECT_EQ(reply_code(c->read_exactly(10)), 2);
  EXPECT_EQ(web_->requests(), 0u);
  expect_fields(only_log_line(), {.status = "403", .code = "TCP_DENIED:HIER_NONE"});
  const std::string audit = audit_log(1);
  EXPECT_NE(audit.find("\"reason\":\"tunnel_not_inspectable\""), std::string::npos) << audit;
}

TEST_F(SocksTest, AllowedMethodsListingConnectLetTunnelsThrough) {
  start_socks({"--allow-domains", "allowed.test", "--allowed-methods", "GET,CONNECT"});
  RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", "-w", "%{http_code}", web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "200") << r.err;
}

TEST_F(SocksTest, AnIpv4LiteralIsDeniedUnlessListed) {
  start_socks();
  const std::uint16_t port = web_->port();
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_ipv4({127, 0, 0, 11}, port));
  EXPECT_EQ(reply_code(c->read_exactly(10)), 2);
  log_lines(1);
  // curl sends an address for a URL naming one.
  RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", web_url(kWebIp)});
  EXPECT_NE(r.err.find("(2)"), std::string::npos) << r.err;
  log_lines(2);
  // An IPv6 address (type 4) is never on the list: denied the same way.
  auto v6 = greeted();
  ASSERT_TRUE(v6);
  v6->send(bytes({5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, port >> 8, port & 0xFF}));
  EXPECT_EQ(reply_code(v6->read_exactly(10)), 2);
  EXPECT_EQ(web_->requests(), 0u);
  auto lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i : {0u, 1u}) {
    expect_fields(parse_detailed(lines[i]),
                  {.status = "403", .code = "TCP_DENIED:HIER_NONE", .url = web_authority(kWebIp)});
  }
  expect_fields(parse_detailed(lines[2]),
                {.status = "403", .code = "TCP_DENIED:HIER_NONE", .url = "[::1]:" + std::to_string(port)});
  EXPECT_NE(proxy_->stderr_text().find("ip_literal"), std::string::npos);
}

TEST_F(SocksTest, AListedIpv4LiteralIsTunnelled) {
  start_socks({"--allow-domains", std::string("allowed.test,") + kWebIp});
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_ipv4({127, 0, 0, 11}, web_->port()));
  const std::string reply = c->read_exactly(10);
  ASSERT_EQ(reply_code(reply), 0);
  // The bound address: the proxy's end of its connection to the origin.
  EXPECT_EQ(reply.substr(3, 2), bytes({1, 127}));
  c->send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(c->read_response(5s).rfind("HTTP/1.1 200", 0), 0u);
  c.reset();
  expect_fields(only_log_line(), {.method = "CONNECT", .status = "200", .code = "TCP_TUNNEL:HIER_DIRECT",
                                  .url = web_authority(kWebIp)});
}

// --socks5: curl resolves the name itself (here from --resolve, never a real
// resolver) and sends the address, which is then all the proxy can decide on.
TEST_F(SocksTest, AClientThatResolvesItselfSendsAnAddressDecidedAsOne) {
  start_socks();
  const std::string resolve = web_authority("web.allowed.test") + ":" + kWebIp;
  RunResult denied = socks_curl("--socks5", {"--resolve", resolve, "-o", "/dev/null", web_url("web.allowed.test")});
  EXPECT_NE(denied.err.find("(2)"), std::string::npos) << denied.err;
  EXPECT_EQ(web_->requests(), 0u);
  expect_fields(only_log_line(), {.status = "403", .code = "TCP_DENIED:HIER_NONE", .url = web_authority(kWebIp)});
}

TEST_F(SocksTest, AClientThatResolvesItselfReachesAListedAddress) {
  start_socks({"--allow-domains", std::string("allowed.test,") + kWebIp});
  const std::string resolve = web_authority("web.allowed.test") + ":" + kWebIp;
  RunResult r = socks_curl("--socks5", {"--resolve", resolve, "-o", "/dev/null", "-w", "%{http_code}",
                                        web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "200") << r.err;
  expect_fields(only_log_line(), {.status = "200", .code = "TCP_TUNNEL:HIER_DIRECT", .url = web_authority(kWebIp)});
}

TEST_F(SocksTest, BindAndUdpAssociateAreNotSupported) {
  start_socks();
  for (int command : {2, 3}) {
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(request_by_name("web.allowed.test", web_->port(), command));
    bool eof = false;
    const std::string reply = c->read_to_eof(5s, &eof);
    EXPECT_EQ(reply, bytes({5, 7, 0, 1, 0, 0, 0, 0, 0, 0})) << command;
    EXPECT_TRUE(eof) << command;
    log_lines(static_cast<std::size_t>(command - 1));
  }
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  const std::string authority = web_authority("web.allowed.test");
  expect_fields(parse_detailed(lines[0]), {.method = "BIND", .status = "405", .code = "NONE_NONE:HIER_NONE",
                                           .url = authority});
  expect_fields(parse_detailed(lines[1]), {.method = "UDP_ASSOCIATE", .status = "405", .code = "NONE_NONE:HIER_NONE",
                                           .url = authority});
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(SocksTest, AGreetingOfferingOnlyAuthenticationGetsNoAcceptableMethod) {
  start_socks();
  auto c = TcpClient::connect("127.0.0.1", socks_port_);
  ASSERT_TRUE(c);
  c->send(bytes({5, 1, 2}));  // username/password only
  bool eof = false;
  EXPECT_EQ(c->read_to_eof(5s, &eof), bytes({5, 0xFF}));
  EXPECT_TRUE(eof);
  expect_fields(only_log_line(), {.method = "NONE", .status = "400", .url = "error:no-acceptable-auth-method"});
  // curl with credentials offers both methods and is served without them.
  RunResult r = socks_curl("--socks5-hostname",
                           {"--proxy-user", "u:p", "-o", "/dev/null", "-w", "%{http_code}", web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "200") << r.err;
}

TEST_F(SocksTest, GarbageAndTruncatedRequestsAreClosedAndLogged) {
  start_socks();
  {
    // An HTTP request on the SOCKS port: no reply at all, a close.
    auto c = TcpClient::connect("127.0.0.1", socks_port_);
    ASSERT_TRUE(c);
    c->send("GET http://web.allowed.test/ HTTP/1.1\r\n\r\n");
    bool eof = false;
    EXPECT_EQ(c->read_to_eof(5s, &eof), "");
    EXPECT_TRUE(eof);
  }
  log_lines(1);
  {
    // A reserved byte set.
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(bytes({5, 1, 9, 1, 127, 0, 0, 11, 0, 80}));
    bool eof = false;
    EXPECT_EQ(c->read_to_eof(5s, &eof), "");
    EXPECT_TRUE(eof);
  }
  log_lines(2);
  {
    // An address type that does not exist: its own reply.
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(bytes({5, 1, 0, 2, 127, 0, 0, 11, 0, 80}));
    EXPECT_EQ(reply_code(c->read_to_eof(5s)), 8);
  }
  log_lines(3);
  {
    // Half a request, then the client's end.
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(request_by_name("web.allowed.test", 80).substr(0, 9));
    c->shutdown_write();
    bool eof = false;
    EXPECT_EQ(c->read_to_eof(5s, &eof), "");
    EXPECT_TRUE(eof);
  }
  auto lines = log_lines(4);
  ASSERT_EQ(lines.size(), 4u);
  for (int i : {0, 1, 2}) {
    expect_fields(parse_detailed(lines[i]), {.method = "NONE", .status = "400", .code = "NONE_NONE:HIER_NONE",
                                             .url = "error:invalid-request"});
  }
  expect_fields(parse_detailed(lines[3]), {.method = "NONE", .url = "error:transaction-end-before-headers"});
  EXPECT_EQ(web_->requests(), 0u);
  const std::string err = proxy_->stderr_text();
  EXPECT_NE(err.find("malformed greeting refused: wrong_version"), std::string::npos) << err;
  EXPECT_NE(err.find("malformed request refused: reserved_not_zero"), std::string::npos) << err;
}

TEST_F(SocksTest, ASilentClientIsClosedAtTheRequestDeadline) {
  start_socks({"--allow-domains", "allowed.test", "--request-timeout", "1"});
  auto c = TcpClient::connect("127.0.0.1", socks_port_);
  ASSERT_TRUE(c);
  const auto start = std::chrono::steady_clock::now();
  bool eof = false;
  EXPECT_EQ(c->read_to_eof(5s, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  log_lines(1);
  // Greeted but silent after: the same deadline, counted from the accept.
  auto greeted_only = greeted();
  ASSERT_TRUE(greeted_only);
  EXPECT_EQ(greeted_only->read_to_eof(5s, &eof), "");
  EXPECT_TRUE(eof);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    expect_fields(parse_detailed(line), {.method = "NONE", .url = "error:transaction-end-before-headers"});
  }
  EXPECT_NE(proxy_->stderr_text().find("request timeout before a complete request"), std::string::npos);
}

TEST_F(SocksTest, ASilentClientDoesNotHoldUpTheDrainAndLeavesNoRecord) {
  start_socks();
  auto c = TcpClient::connect("127.0.0.1", socks_port_);
  ASSERT_TRUE(c);
  std::this_thread::sleep_for(100ms);  // accepted, its read pending
  const auto t0 = std::chrono::steady_clock::now();
  proxy_->signal(SIGTERM);
  auto code = proxy_->wait(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << proxy_->stderr_text();
  // Not the 5 s --shutdown-timeout: nobody was waiting for that connection.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(awf::testing::read_file(dir_.file("access.log")), "");
}

TEST_F(SocksTest, FailuresToReachTheOriginMapToTheirReplyCodes) {
  start_socks();
  {
    // Nothing listens there: connection refused.
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(request_by_name("web.allowed.test", refused_port_));
    EXPECT_EQ(reply_code(c->read_exactly(10)), 5);
  }
  log_lines(1);
  {
    // Neither the hosts file nor the DNS stub knows the name.
    auto c = greeted();
    ASSERT_TRUE(c);
    c->send(request_by_name("nowhere.allowed.test", web_->port()));
    EXPECT_EQ(reply_code(c->read_exactly(10)), 4);
  }
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.dest = std::string(kWebIp) + ":" + std::to_string(refused_port_),
                                           .status = "503",
                                           .code = "NONE_NONE:HIER_DIRECT"});
  expect_fields(parse_detailed(lines[1]), {.dest = "-:-", .status = "503", .code = "NONE_NONE:HIER_NONE"});
  EXPECT_GE(dns_->queries(), 1u);
}

TEST_F(SocksTest, ACredentialInTheNameIsRefusedAndRedactedUnderDlp) {
  start_socks({"--allow-domains", "allowed.test", "--enable-dlp"});
  const std::string token = "ghp_" + std::string(36, 'Z');
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_name(token + ".allowed.test", web_->port()));
  EXPECT_EQ(reply_code(c->read_exactly(10)), 2);
  expect_fields(only_log_line(), {.status = "403", .code = "TCP_DENIED:HIER_NONE"});
  const std::string audit = audit_log(1);
  EXPECT_EQ(audit.find(token), std::string::npos) << audit;
  EXPECT_EQ(awf::testing::read_file(dir_.file("access.log")).find(token), std::string::npos);
  EXPECT_NE(audit.find("\"dlp\":"), std::string::npos) << audit;
}

TEST_F(SocksTest, TunnelsGoThroughTheParentProxyWhenOneIsSet) {
  // The parent: a second awf-proxy that alone knows the origins' names.
  TempDir parent_logs;
  auto parent = Process::spawn({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--hosts-file", hosts_file(),
                                "--allow-private-ranges", "127.0.0.0/8", "--enable-host-access", "--allow-host-ports",
                                ports(), "--log-dir", parent_logs.path(), "--threads", "1", "--allow-domains",
                                "allowed.test"});
  ASSERT_TRUE(parent->wait_for_stderr("awf-proxy: ready", 15s)) << parent->stderr_text();
  auto listen = parent->wait_for_stderr("listening on 127.0.0.1:", 1s);
  ASSERT_TRUE(listen);
  const std::string parent_at = "127.0.0.1:" + listen->substr(listen->rfind(':') + 1);
  const std::string empty_hosts = parent_logs.file("child-hosts");
  awf::testing::write_file(empty_hosts, "");
  start_proxy({"--listen", "127.0.0.1:0", "--listen-socks", "127.0.0.1:0", "--hosts-file", empty_hosts,
               "--dns-servers", "127.0.0.1:" + std::to_string(dns_->port()), "--enable-host-access",
               "--allow-host-ports", ports(), "--log-dir", log_dir(), "--allow-domains", "allowed.test",
               "--upstream-proxy", "http://" + parent_at},
              /*with_base=*/false);
  socks_port_ = port_of("(socks");
  ASSERT_NE(socks_port_, 0);

  const std::string authority = "secure.allowed.test:" + std::to_string(tls_->port());
  RunResult r = socks_curl("--socks5-hostname", {"-k", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "https://" + authority + "/x"});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(tls_->requests(), 1u);
  EXPECT_EQ(dns_->queries(), 0u);  // only the parent resolved
  expect_fields(only_log_line(), {.dest = parent_at, .method = "CONNECT", .status = "200",
                                  .code = "TCP_TUNNEL:DEFAULT_PARENT", .url = authority});
  std::vector<std::string> up;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       up.empty() && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    up = split(awf::testing::read_file(parent_logs.file("access.log")), '\n');
  }
  ASSERT_EQ(up.size(), 1u);
  expect_fields(parse_detailed(up[0]), {.dest = std::string(kTlsIp) + ":" + std::to_string(tls_->port()),
                                        .method = "CONNECT", .status = "200", .code = "TCP_TUNNEL:HIER_DIRECT",
                                        .url = authority});
  parent->signal(SIGTERM);
  EXPECT_EQ(parent->wait(15s), std::optional<int>(0)) << parent->stderr_text();
}

TEST_F(SocksTest, AChangedListenSocksWaitsForARestartAndTheOldListenerKeepsServing) {
  const std::string yaml = dir_.file("proxy.yaml");
  const std::string common = "listen: [\"127.0.0.1:0\"]\nallow-domains: [allowed.test]\nhosts-file: " + hosts_file() +
                             "\nallow-private-ranges: [127.0.0.0/8]\nenable-host-access: true\nallow-host-ports: \"" +
                             ports() + "\"\nlog-dir: " + log_dir() + "\n";
  awf::testing::write_file(yaml, common + "listen-socks: [\"127.0.0.1:0\"]\n");
  start_proxy({"--config", yaml}, /*with_base=*/false);
  socks_port_ = port_of("(socks");
  ASSERT_NE(socks_port_, 0);
  awf::testing::write_file(yaml, common + "listen-socks: [\"127.0.0.1:0\", \"[::1]:0\"]\n");
  proxy_->signal(SIGHUP);
  auto restart = proxy_->wait_for_stderr("need a restart", 5s);
  ASSERT_TRUE(restart) << proxy_->stderr_text();
  EXPECT_NE(restart->find("listen-socks"), std::string::npos) << *restart;
  RunResult r = socks_curl("--socks5-hostname", {"-o", "/dev/null", "-w", "%{http_code}", web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "200") << r.err;
}

TEST_F(SocksTest, AHandedOverSocksSocketIsServed) {
  AWF_REQUIRE_FACILITY(::access("/usr/bin/systemd-socket-activate", X_OK) == 0,
                       "systemd-socket-activate (package systemd) is not installed");
  // An address no other suite uses: systemd-socket-activate needs a port number.
  const std::string addr = "127.0.93.2";
  const std::string at = addr + ":" + std::to_string(awf::testing::unused_port(addr));
  proxy_ = Process::spawn({"systemd-socket-activate", "-l", at, "--fdname=socks", AWF_PROXY_BIN, "--allow-domains",
                           "allowed.test", "--hosts-file", hosts_file(), "--allow-private-ranges", "127.0.0.0/8",
                           "--enable-host-access", "--allow-host-ports", ports(), "--log-dir", log_dir()});
  ASSERT_TRUE(proxy_->wait_for_stderr("Listening on " + at, 10s)) << proxy_->stderr_text();
  RunResult r = awf::testing::run({"curl", "-sS", "--max-time", "20", "--socks5-hostname", at, "-o", "/dev/null", "-w",
                                   "%{http_code}", web_url("web.allowed.test")},
                                  30s);
  EXPECT_EQ(r.out, "200") << r.err << proxy_->stderr_text();
  const std::string err = proxy_->stderr_text();
  EXPECT_NE(err.find("awf-proxy: listening on " + at + " (socks, socket activation)\n"), std::string::npos) << err;
  EXPECT_EQ(err.find(":3128"), std::string::npos) << err;  // no implicit forward listener beside it
  expect_fields(only_log_line(), {.method = "CONNECT", .status = "200", .code = "TCP_TUNNEL:HIER_DIRECT"});
}

TEST_F(SocksTest, WithNetnsTheSocksListenerIsInsideTheSandbox) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to enter another network namespace";
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/unshare") && fs::exists("/usr/bin/nsenter"),
                       "unshare and nsenter (util-linux) are not installed");
  auto sandbox = Process::spawn({"unshare", "--net", "sh", "-c", "ip link set lo up && echo up >&2 && exec sleep 60"});
  ASSERT_TRUE(sandbox->wait_for_stderr("up", 10s)) << sandbox->stderr_text();
  const std::string netns = "/proc/" + std::to_string(sandbox->pid()) + "/ns/net";
  start_socks({"--netns", netns, "--allow-domains", "allowed.test"});
  auto inside = [&](const std::string& url) {
    return awf::testing::run({"nsenter", "--net=" + netns, "--", "curl", "-sS", "--max-time", "10",
                              "--socks5-hostname", socks_addr(), "-o", "/dev/null", "-w", "%{http_code}", url},
                             30s);
  };
  RunResult allowed = inside(web_url("web.allowed.test"));
  EXPECT_EQ(allowed.out, "200") << allowed.err;
  log_lines(1);
  RunResult denied = inside(web_url("other.test"));
  EXPECT_NE(denied.err.find("(2)"), std::string::npos) << denied.err;
  EXPECT_NE(proxy_->stderr_text().find("(socks, socket activation)"), std::string::npos) << proxy_->stderr_text();
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.code = "TCP_TUNNEL:HIER_DIRECT"});
  expect_fields(parse_detailed(lines[1]), {.code = "TCP_DENIED:HIER_NONE"});
  sandbox->signal(SIGKILL);
  sandbox->wait(5s);
}

// --ssl-bump-cert: a SOCKS tunnel is terminated like a CONNECT tunnel, with
// a certificate minted by a per-test CA, and each request inside is logged.
TEST_F(SocksTest, WithSslBumpASocksTunnelIsTerminatedAndEachRequestLogged) {
  ASSERT_EQ(::mkdir(dir_.file("site").c_str(), 0700), 0);
  auto site = Origin::start({.host = "127.0.0.14",
                             .kind = Origin::Kind::https,
                             .cert_dir = dir_.file("site"),
                             .port = 0,
                             .cert_names = "DNS:site.test"});
  ASSERT_TRUE(site);
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + "127.0.0.14 site.test\n");
  const std::string ca = dir_.file("ca.pem"), ca_key = dir_.file("ca-key.pem");
  RunResult made = awf::testing::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out", ca, "-days",
                                      "1", "-subj", "/CN=awf socks test CA"},
                                     30s);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  ASSERT_EQ(::chmod(ca_key.c_str(), 0600), 0);
  start_socks({"--allow-domains", "site.test", "--allow-host-ports", ports() + "," + std::to_string(site->port()),
               "--ssl-bump-cert", ca, "--ssl-bump-key", ca_key, "--ssl-bump-upstream-ca",
               dir_.file("site/origin-cert.pem")});
  const std::string authority = "site.test:" + std::to_string(site->port());
  RunResult r = socks_curl("--socks5-hostname", {"-v", "--cacert", ca, "https://" + authority + "/echo?q=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("issuer: CN=awf socks test CA"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("GET /echo?q=1 HTTP/1.1"), std::string::npos) << r.out;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.version = "-", .method = "CONNECT", .status = "200",
                                           .code = "TCP_TUNNEL:HIER_DIRECT", .url = authority});
  expect_fields(parse_detailed(lines[1]), {.method = "GET", .status = "200", .code = "TCP_MISS:HIER_DIRECT",
                                           .url = "https://" + authority + "/echo?"});
}

// Port 443 with the SNI check: origins on 127.0.0.x:443 in a network
// namespace of the suite's own, as tunnel_sni_test.cc has them.
class SocksSniTest : public SocksTest {
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
    awf::testing::write_file(hosts_file(), std::string(kEchoIp) + " echo.allowed.test other.test\n" + kTlsIp +
                                               " secure.allowed.test\n");
    dns_ = awf::testing::DnsStub::start("127.0.0.1", {});
    ASSERT_TRUE(dns_);
  }

  static inline std::string netns_error_;
};

TEST_F(SocksSniTest, ATunnelToPort443IsRelayedOnlyForAnAllowedServerName) {
  start_socks();
  RunResult r = socks_curl("--socks5-hostname", {"-k", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "https://secure.allowed.test/"});
  EXPECT_EQ(r.out, "200") << r.err;
  EXPECT_EQ(tls_->requests(), 1u);
  log_lines(1);
  // SOCKS to an allowed name, then a hello for another: the proxy's alert,
  // nothing from the echo origin.
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_name("echo.allowed.test", 443));
  ASSERT_EQ(reply_code(c->read_exactly(10)), 0);
  const auto hello = awf::intercept::test::typical_hello("other.test");
  c->send(std::string(hello.begin(), hello.end()));
  bool eof = false;
  EXPECT_EQ(c->read_to_eof(5s, &eof), std::string("\x15\x03\x03\x00\x02\x02\x31", 7));
  EXPECT_TRUE(eof);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.status = "200", .code = "TCP_TUNNEL:HIER_DIRECT",
                                           .url = "secure.allowed.test:443"});
  expect_fields(parse_detailed(lines[1]), {.host = "echo.allowed.test:443", .dest = "-:-", .status = "403",
                                           .code = "TCP_DENIED:HIER_NONE", .url = "other.test:443"});
  const std::vector<std::string> audit = split(audit_log(2), '\n');
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_NE(audit[1].find("\"sni\":\"other.test\""), std::string::npos) << audit[1];
  EXPECT_NE(audit[1].find("\"listener\":\"socks\""), std::string::npos) << audit[1];
}

TEST_F(SocksSniTest, WithTheCheckOffTheTunnelIsRelayedRaw) {
  start_socks({"--allow-domains", "allowed.test", "--tunnel-sni-check", "off"});
  auto c = greeted();
  ASSERT_TRUE(c);
  c->send(request_by_name("echo.allowed.test", 443));
  ASSERT_EQ(reply_code(c->read_exactly(10)), 0);
  c->send("not TLS at all");
  EXPECT_EQ(c->read_exactly(14, 5s), "not TLS at all");
}

}  // namespace
}  // namespace awf::proxy_test
