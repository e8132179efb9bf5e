// Integration tests of forward HTTP through the real awf-proxy: policy per
// rule kind, 403 bodies, bodies by hash, chunked uploads, keep-alive reuse
// and re-checking, smuggling shapes, upstream failures, log lines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, AllowedGetReachesOriginAndIsLoggedAsMiss) {
  start_proxy();
  RunResult r = curl({"-A", "probe/1.0", web_url("Web.Allowed.Test", "/echo?token=secret")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("GET /echo?token=secret HTTP/1.1\r\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("Host: web.allowed.test:" + std::to_string(web_->port())), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Proxy-Connection"), std::string::npos);
  EXPECT_EQ(r.out.find("Via:"), std::string::npos);
  EXPECT_EQ(r.out.find("X-Forwarded-For"), std::string::npos);

  DetailedLine d = only_log_line();
  EXPECT_TRUE(std::regex_match(d.ts, std::regex(R"(\d+\.\d{3})"))) << d.ts;
  EXPECT_TRUE(std::regex_match(d.client, std::regex(R"(127\.0\.0\.1:\d+)"))) << d.client;
  expect_fields(d, {.host = "web.allowed.test:" + std::to_string(web_->port()),
                    .dest = std::string(kWebIp) + ":" + std::to_string(web_->port()),
                    .version = "1.1",
                    .method = "GET",
                    .status = "200",
                    .code = "TCP_MISS:HIER_DIRECT",
                    // Squid's strip_query_terms: the query never reaches the log.
                    .url = "http://web.allowed.test:" + std::to_string(web_->port()) + "/echo?",
                    .ua = "\"probe/1.0\""});

  auto audit = log_lines(1, "audit.jsonl");
  ASSERT_EQ(audit.size(), 1u);
  std::regex shape(
      R"(\{"_schema":"audit/v[0-9.]+","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","event":"http_access","client":"127\.0\.0\.1","host":"web\.allowed\.test:\d+","dest":"127\.0\.0\.11:\d+","method":"GET","status":200,"decision":"TCP_MISS","url":"http://web\.allowed\.test:\d+/echo\?"\})");
  EXPECT_TRUE(std::regex_match(audit[0], shape)) << audit[0];
}

TEST_F(ProxyTest, DeniedGetGets403NamingHostAndReason) {
  start_proxy();
  RunResult r = curl({"-i", web_url("other.test", "/x")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("other.test"), std::string::npos);
  EXPECT_NE(r.out.find("not_in_allowlist"), std::string::npos);
  EXPECT_EQ(web_->requests(), 0u);
  expect_fields(only_log_line(), {.dest = "-:-",
                                  .status = "403",
                                  .code = "TCP_DENIED:HIER_NONE",
                                  .url = "http://other.test:" + std::to_string(web_->port()) + "/x"});
}

struct RuleCase {
  const char* name;
  std::vector<std::string> policy;  // extra flags
  std::string host;                  // host in the URL (port: web origin's unless `port` set)
  bool connect;                      // CONNECT (curl -p) or plain GET
  int expect_status;                 // 200 or 403
  const char* reason;                // in the 403 body
  int port = 0;                      // 0: the web origin's port
};

class RuleKinds : public ProxyTest, public ::testing::WithParamInterface<RuleCase> {};

TEST_P(RuleKinds, DecideAsAwfDoes) {
  const RuleCase& c = GetParam();
  start_proxy(c.policy);
  int port = c.port ? c.port : web_->port();
  std::string url = "http://" + c.host + ":" + std::to_string(port) + "/";
  std::vector<std::string> args = {"-i"};
  if (c.connect) args.push_back("-p");
  args.push_back(url);
  RunResult r = curl(args);
  if (c.expect_status == 200) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("200 OK"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(r.out.find("403"), std::string::npos) << r.out << r.err;
    if (!c.connect) {
      EXPECT_NE(r.out.find(c.reason), std::string::npos) << r.out;
    }
  }
  auto lines = log_lines(1);
  ASSERT_GE(lines.size(), 1u);
  DetailedLine d = parse_detailed(lines.back());
  EXPECT_EQ(d.method, c.connect ? "CONNECT" : "GET");
  EXPECT_EQ(d.status, std::to_string(c.expect_status));
  EXPECT_EQ(d.code, c.expect_status == 200 ? (c.connect ? "TCP_TUNNEL:HIER_DIRECT" : "TCP_MISS:HIER_DIRECT")
                                           : "TCP_DENIED:HIER_NONE");
}

const std::vector<std::string> kAllow = {"--allow-domains", "allowed.test"};

INSTANTIATE_TEST_SUITE_P(
    Policy, RuleKinds,
    ::testing::Values(
        RuleCase{"SubdomainOfPlainEntry", kAllow, "web.allowed.test", false, 200, ""},
        RuleCase{"SubdomainOfPlainEntryConnect", kAllow, "web.allowed.test", true, 200, ""},
        RuleCase{"UnlistedHost", kAllow, "other.test", false, 403, "not_in_allowlist"},
        RuleCase{"UnlistedHostConnect", kAllow, "other.test", true, 403, "not_in_allowlist"},
        RuleCase{"BlocklistBeatsAllowlist", {"--allow-domains", "allowed.test", "--block-domains", "blocked.allowed.test"},
                 "blocked.allowed.test", false, 403, "blocklisted"},
        RuleCase{"HttpOnlyEntryAllowsGet", {"--allow-domains", "http://http-only.test"}, "http-only.test", false, 200, ""},
        RuleCase{"HttpOnlyEntryRefusesConnect", {"--allow-domains", "http://http-only.test"}, "http-only.test", true,
                 403, "scope_mismatch"},
        RuleCase{"HttpsOnlyEntryAllowsConnect", {"--allow-domains", "https://https-only.test"}, "https-only.test", true,
                 200, ""},
        RuleCase{"HttpsOnlyEntryRefusesGet", {"--allow-domains", "https://https-only.test"}, "https-only.test", false,
                 403, "scope_mismatch"},
        RuleCase{"WildcardPattern", {"--allow-domains", "*.allowed.test"}, "api.allowed.test", false, 200, ""},
        RuleCase{"EmptyAllowlistDeniesAll", {}, "web.allowed.test", false, 403, "empty_allowlist"},
        RuleCase{"DecimalIpLiteral", kAllow, "2130706443", false, 403, "ip_literal"},
        RuleCase{"DottedIpLiteral", kAllow, "127.0.0.11", false, 403, "ip_literal"},
        RuleCase{"AllowlistedIpLiteral", {"--allow-domains", "127.0.0.11"}, "127.0.0.11", false, 200, ""},
        RuleCase{"PortNotAllowed", kAllow, "web.allowed.test", false, 403, "port_not_allowed", 8081}),
    [](const ::testing::TestParamInfo<RuleCase>& p) { return std::string(p.param.name); });

TEST_F(ProxyTest, DecimalIpUrlIsDeniedAsLiteral) {
  // curl normalises http://2130706433/ to 127.0.0.1 itself; send it raw too.
  start_proxy();
  std::string resp = raw("GET http://2130706433:" + std::to_string(web_->port()) + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 403", 0), 0u) << resp;
  EXPECT_NE(resp.find("ip_literal"), std::string::npos);
  EXPECT_NE(resp.find("127.0.0.1"), std::string::npos) << resp;
  EXPECT_EQ(web_->requests(), 0u);
}

TEST_F(ProxyTest, BodiesOfEverySizeArriveIntact) {
  start_proxy();
  std::vector<std::size_t> sizes = {0, 1024, kSanitized ? 8u << 20 : 100u << 20};
  for (std::size_t n : sizes) {
    for (const char* kind : {"bytes", "chunked"}) {
      std::string out = dir_.file("body.bin");
      RunResult r = curl({"-o", out, web_url("web.allowed.test", "/" + std::string(kind) + "/" + std::to_string(n))});
      ASSERT_EQ(r.exit_code, 0) << kind << n << r.err;
      EXPECT_EQ(awf::testing::sha256_file_hex(out), awf::testing::pattern_sha256_hex(n)) << kind << " " << n;
    }
  }
}

TEST_F(ProxyTest, UploadsArriveIntactWithLengthAndChunked) {
  start_proxy();
  for (std::size_t n : {std::size_t{0}, std::size_t{1024}, std::size_t{kSanitized ? 2u << 20 : 20u << 20}}) {
    std::string in = dir_.file("up.bin");
    awf::testing::write_file(in, awf::testing::pattern_bytes(n));
    std::string expect = "len=" + std::to_string(n) + " sha256=" + awf::testing::pattern_sha256_hex(n);
    RunResult r = curl({"--data-binary", "@" + in, web_url("web.allowed.test", "/upload")});
    EXPECT_EQ(r.out, expect) << r.err;
    r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + in, web_url("web.allowed.test", "/upload")});
    EXPECT_EQ(r.out, expect) << r.err;
  }
}

TEST_F(ProxyTest, KeepAliveReusesBothConnectionsAndRechecksEveryRequest) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  std::string get = "GET " + web_url("web.allowed.test", "/") + " HTTP/1.1\r\nHost: web.allowed.test\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->send(get));
    std::string resp = c->read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK", 0), 0u) << resp;
    EXPECT_NE(resp.find("\r\n\r\nok"), std::string::npos);
  }
  EXPECT_EQ(web_->connections(), 1u);
  // Same connection, another host: decided again, denied.
  ASSERT_TRUE(c->send("GET " + web_url("other.test", "/") + " HTTP/1.1\r\nHost: web.allowed.test\r\n\r\n"));
  std::string denied = c->read_response();
  EXPECT_EQ(denied.rfind("HTTP/1.1 403", 0), 0u) << denied;
  EXPECT_NE(denied.find("other.test"), std::string::npos);
  // And still usable afterwards.
  ASSERT_TRUE(c->send(get));
  EXPECT_EQ(c->read_response().rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_EQ(web_->connections(), 1u);  // the denial did not cost the upstream connection
  auto lines = log_lines(5);
  EXPECT_EQ(lines.size(), 5u);
}

TEST_F(ProxyTest, PipelinedRequestsAreAnsweredInOrder) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  std::string one = "GET " + web_url("web.allowed.test", "/bytes/5") + " HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string two = "GET " + web_url("web.allowed.test", "/echo") + " HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_TRUE(c->send(one + two));
  std::string r1 = c->read_response();
  std::string r2 = c->read_response();
  EXPECT_NE(r1.find("Content-Length: 5"), std::string::npos) << r1;
  EXPECT_NE(r2.find("GET /echo HTTP/1.1"), std::string::npos) << r2;
}

struct Smuggle {
  const char* name;
  const char* head;  // after the request line
};

class SmugglingShapes : public ProxyTest, public ::testing::WithParamInterface<Smuggle> {};

TEST_P(SmugglingShapes, AreRefusedAndNeverForwarded) {
  start_proxy();
  std::string req = "POST " + web_url("web.allowed.test", "/upload") + " HTTP/1.1\r\n" + GetParam().head;
  std::string resp = raw(req);
  EXPECT_TRUE(resp.rfind("HTTP/1.1 400", 0) == 0 || resp.rfind("HTTP/1.1 501", 0) == 0) << resp;
  EXPECT_EQ(web_->requests(), 0u);
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("NONE_NONE:HIER_NONE"), std::string::npos) << lines[0];
}

INSTANTIATE_TEST_SUITE_P(
    Requests, SmugglingShapes,
    ::testing::Values(Smuggle{"ContentLengthAndChunked",
                              "Host: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
                      Smuggle{"DuplicateContentLength", "Host: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd"},
                      Smuggle{"ObsFold", "Host: a\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n"},
                      Smuggle{"BareLf", "Host: a\nContent-Length: 0\n\n"},
                      Smuggle{"ChunkedThenGzip", "Host: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"}),
    [](const ::testing::TestParamInfo<Smuggle>& p) { return std::string(p.param.name); });

TEST_F(ProxyTest, OversizedHeadGets431) {
  start_proxy({"--allow-domains", "allowed.test", "--max-header-bytes", "2048"});
  std::string resp = raw("GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') +
                         "\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 431", 0), 0u) << resp;
  EXPECT_TRUE(proxy_->wait_for_stderr("--max-header-bytes", 2s));
}

TEST_F(ProxyTest, OriginFormRequestIsRefusedAsNotAProxyRequest) {
  start_proxy();
  std::string resp = raw("GET /index.html HTTP/1.1\r\nHost: web.allowed.test\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp;
}

TEST_F(ProxyTest, UpstreamRefusingGets503) {
  start_proxy();
  RunResult r = curl({"-i", "http://web.allowed.test:" + std::to_string(refused_port_) + "/"});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 503", 0), 0u) << r.out;
  // As Squid logs it: the refused address, HIER_DIRECT.
  expect_fields(only_log_line(), {.dest = std::string(kWebIp) + ":" + std::to_string(refused_port_),
                                  .status = "503",
                                  .code = "TCP_MISS:HIER_DIRECT"});
}

TEST_F(ProxyTest, UpstreamResetGets502) {
  start_proxy();
  RunResult r = curl({"-i", web_url("web.allowed.test", "/reset")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 502", 0), 0u) << r.out;
  r = curl({"-i", web_url("web.allowed.test", "/close")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 502", 0), 0u) << r.out;
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(parse_detailed(lines[0]).code, "TCP_MISS:HIER_DIRECT");
  EXPECT_EQ(parse_detailed(lines[0]).status, "502");
}

TEST_F(ProxyTest, UpstreamHangingGets504AfterReadTimeout) {
  start_proxy({"--allow-domains", "allowed.test", "--read-timeout", "1"});
  auto t0 = std::chrono::steady_clock::now();
  RunResult r = curl({"-i", web_url("web.allowed.test", "/hang")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 504", 0), 0u) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(only_log_line().status, "504");
}

TEST_F(ProxyTest, AllowedNameResolvingToLoopbackIsRefusedWithoutOptIn) {
  std::vector<std::string> args = {AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--hosts-file", hosts_file(),
                                   "--enable-host-access", "--allow-host-ports", ports(), "--log-dir", log_dir(),
                                   "--allow-domains", "allowed.test"};
  proxy_ = Process::spawn(args);
  auto listen = proxy_->wait_for_stderr("listening on 127.0.0.1:", 10s);
  ASSERT_TRUE(listen) << proxy_->stderr_text();
  port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  ASSERT_TRUE(proxy_->wait_for_stderr("ready", 5s));
  RunResult r = curl({"-i", web_url("web.allowed.test")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 403", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("loopback 127.0.0.11"), std::string::npos) << r.out;
  EXPECT_EQ(web_->requests(), 0u);
  EXPECT_EQ(only_log_line().code, "TCP_DENIED:HIER_NONE");
}

TEST_F(ProxyTest, ClientSendingNothingIsLoggedAsTransactionEndBeforeHeaders) {
  start_proxy();
  {
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c);
  }
  expect_fields(only_log_line(), {.dest = "-:-",
                                  .method = "NONE",
                                  .status = "0",
                                  .code = "NONE_NONE:HIER_NONE",
                                  .url = "error:transaction-end-before-headers"});
}

TEST_F(ProxyTest, SlowClientWithinTimeoutIsServedAndStalledOneIsClosed) {
  start_proxy({"--allow-domains", "allowed.test", "--request-timeout", "1"});
  auto slow = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(slow);
  std::string get = "GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: a\r\n\r\n";
  for (char ch : get) {
    slow->send(std::string(1, ch));
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(slow->read_response().rfind("HTTP/1.1 200", 0), 0u);

  auto stalled = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(stalled);
  stalled->send("GET http://web.allowed.test/ HT");
  bool eof = false;
  auto t0 = std::chrono::steady_clock::now();
  stalled->read_to_eof(5s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_EQ(parse_detailed(lines[1]).url, "error:transaction-end-before-headers");
}

TEST_F(ProxyTest, SlowResponseStreamsWithoutTimingOut) {
  // 20 KiB at 1 KiB per 100 ms = 2 s, longer than the 1 s idle read timeout.
  start_proxy({"--allow-domains", "allowed.test", "--read-timeout", "1"});
  std::string out = dir_.file("slow.bin");
  RunResult r = curl({"-o", out, web_url("web.allowed.test", "/slow/20480")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(awf::testing::sha256_file_hex(out), awf::testing::pattern_sha256_hex(20480));
}

}  // namespace
}  // namespace awf::proxy_test

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, NamesOutsideTheHostsFileAreResolvedThroughDnsServers) {
  auto dns = awf::testing::DnsStub::start("127.0.0.1", {{"dns.allowed.test", {"127.0.0.11"}}});
  ASSERT_TRUE(dns);
  start_proxy({"--allow-domains", "allowed.test", "--dns-servers", "127.0.0.1:" + std::to_string(dns->port())});
  EXPECT_EQ(status_of(web_url("dns.allowed.test")), 200);
  std::size_t asked = dns->queries();
  EXPECT_GE(asked, 1u);
  EXPECT_EQ(status_of(web_url("dns.allowed.test")), 200);
  EXPECT_EQ(dns->queries(), asked);  // answered from the positive cache
  RunResult r = curl({"-i", web_url("nx.allowed.test")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 503", 0), 0u) << r.out;
  auto lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(parse_detailed(lines[2]).code, "TCP_MISS:HIER_NONE");
}

TEST_F(ProxyTest, NextAddressIsTriedWhenTheFirstRefuses) {
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) +
                                             "127.0.0.21 multi.allowed.test\n127.0.0.11 multi.allowed.test\n");
  start_proxy();
  RunResult r = curl({web_url("multi.allowed.test")});
  EXPECT_EQ(r.out, "ok") << r.err;
  EXPECT_EQ(only_log_line().dest, std::string(kWebIp) + ":" + std::to_string(web_->port()));
}

}  // namespace
}  // namespace awf::proxy_test

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, UpstreamConnectionsArePooledAcrossClients) {
  start_proxy({"--allow-domains", "allowed.test", "--threads", "1"});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(web_->connections(), 1u);
  // A pooled connection the origin closed meanwhile is retried transparently.
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/"), {"-H", "Connection: close"}), 200);
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  auto lines = log_lines(5);
  EXPECT_EQ(lines.size(), 5u);
}

}  // namespace
}  // namespace awf::proxy_test

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, UpstreamNotAnsweringConnectGets504AfterConnectTimeout) {
  // A listener that never accepts, its backlog filled: further SYNs are
  // dropped and connect() hangs, as with a silent remote host.
  auto silent = awf::testing::IdleListener::open("127.0.0.14", 0, true);
  ASSERT_TRUE(silent);
  const std::uint16_t port = silent->port();
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + "127.0.0.14 silent.allowed.test\n");
  start_proxy({"--allow-domains", "allowed.test", "--connect-timeout", "1", "--allow-host-ports",
               ports() + "," + std::to_string(port)});
  auto t0 = std::chrono::steady_clock::now();
  RunResult r = curl({"-i", "http://silent.allowed.test:" + std::to_string(port) + "/"});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 504", 0), 0u) << r.out << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(only_log_line().status, "504");
}

TEST_F(ProxyTest, SilentFirstAddressFallsBackToTheNextAfterTheAttemptDelay) {
  // racing.allowed.test resolves to a silent address first, then to the web
  // origin, on the origin's port. Happy eyeballs starts the second attempt
  // 250 ms in; a sequential fallback would wait out the 20 s connect timeout.
  const std::uint16_t port = web_->port();
  auto silent = awf::testing::IdleListener::open("127.0.0.15", port, true);
  ASSERT_TRUE(silent);
  awf::testing::write_file(hosts_file(), awf::testing::read_file(hosts_file()) + "127.0.0.15 racing.allowed.test\n" +
                                             kWebIp + " racing.allowed.test\n");
  start_proxy({"--allow-domains", "allowed.test", "--connect-timeout", "20"});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(web_url("racing.allowed.test", "/bytes/10")), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(only_log_line().dest, std::string(kWebIp) + ":" + std::to_string(port));
}

}  // namespace
}  // namespace awf::proxy_test
