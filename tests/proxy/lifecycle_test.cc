// Integration tests of awf-proxy as a process: signals (SIGHUP reload,
// SIGUSR1 reopen, SIGTERM drain), startup errors, log formats and sinks,
// the YAML config, IPv6 listeners and the connection limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, SighupReloadsPolicyAndKeepsItWhenTheNewOneIsBad) {
  std::string list = dir_.file("allow.txt");
  awf::testing::write_file(list, "web.allowed.test\n");
  start_proxy({"--allow-domains-file", list});
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("other.test")), 403);

  awf::testing::write_file(list, "web.allowed.test\nother.test\n");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(proxy_->wait_for_stderr("policy reloaded", 5s)) << proxy_->stderr_text();
  EXPECT_EQ(status_of(web_url("other.test")), 200);

  awf::testing::write_file(list, "web.allowed.test\n*\n");
  proxy_->signal(SIGHUP);
  auto line = proxy_->wait_for_stderr("policy reload failed", 5s);
  ASSERT_TRUE(line) << proxy_->stderr_text();
  EXPECT_NE(line->find("'*'"), std::string::npos) << *line;
  EXPECT_EQ(status_of(web_url("other.test")), 200);  // the previous policy is still in force
  EXPECT_TRUE(proxy_->running());
}

TEST_F(ProxyTest, Sigusr1ReopensLogFilesForRotation) {
  start_proxy();
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/one")), 200);
  ASSERT_EQ(log_lines(1).size(), 1u);
  ASSERT_EQ(::rename(dir_.file("access.log").c_str(), dir_.file("access.log.1").c_str()), 0);
  ASSERT_EQ(::rename(dir_.file("audit.jsonl").c_str(), dir_.file("audit.jsonl.1").c_str()), 0);
  proxy_->signal(SIGUSR1);
  ASSERT_TRUE(proxy_->wait_for_stderr("reopening log files", 5s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/two")), 200);
  auto fresh = log_lines(1);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_NE(fresh[0].find("/two"), std::string::npos);
  EXPECT_EQ(log_lines(1, "audit.jsonl").size(), 1u);
  auto old = log_lines(1, "access.log.1");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_NE(old[0].find("/one"), std::string::npos);
}

TEST_F(ProxyTest, SigtermDrainsExitsZeroAndLosesNoLogLine) {
  start_proxy();
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c);
    c->send("GET " + web_url(i % 2 ? "web.allowed.test" : "other.test", "/") + " HTTP/1.1\r\nHost: a\r\n\r\n");
    c->read_response();
  }
  proxy_->signal(SIGTERM);
  auto code = proxy_->wait(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << proxy_->stderr_text();
  EXPECT_EQ(split(awf::testing::read_file(dir_.file("access.log")), '\n').size(), static_cast<std::size_t>(n));
  EXPECT_EQ(split(awf::testing::read_file(dir_.file("audit.jsonl")), '\n').size(), static_cast<std::size_t>(n));
}

TEST_F(ProxyTest, SigtermEndsLongTunnelsAfterTheShutdownTimeoutAndLogsThem) {
  start_proxy({"--allow-domains", "allowed.test", "--shutdown-timeout", "0.5"});
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  c->send("CONNECT echo.allowed.test:" + std::to_string(echo_->port()) + " HTTP/1.1\r\n\r\n");
  ASSERT_EQ(c->read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  auto t0 = std::chrono::steady_clock::now();
  proxy_->signal(SIGTERM);
  auto code = proxy_->wait(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  auto lines = split(awf::testing::read_file(dir_.file("access.log")), '\n');
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("TCP_TUNNEL:HIER_DIRECT"), std::string::npos);
}

TEST_F(ProxyTest, SquidNativeLogFormat) {
  start_proxy({"--allow-domains", "allowed.test", "--log-format", "squid"});
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/bytes/10")), 200);
  EXPECT_EQ(status_of(web_url("other.test")), 403);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  std::string url = web_url("web.allowed.test", "/bytes/10");
  std::regex miss(R"(\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_MISS/200 \d+ GET )" + std::regex_replace(url, std::regex(R"([.])"), R"(\.)") +
                  R"( - HIER_DIRECT/127\.0\.0\.11 application/octet-stream)");
  EXPECT_TRUE(std::regex_match(lines[0], miss)) << lines[0];
  EXPECT_TRUE(std::regex_search(lines[1], std::regex(R"( TCP_DENIED/403 \d+ GET http://other\.test:\d+/ - HIER_NONE/- text/plain$)")))
      << lines[1];
  EXPECT_EQ(log_lines(2, "audit.jsonl").size(), 2u);  // audit.jsonl is written in every format
}

TEST_F(ProxyTest, AccessLinesGoToStderrWithoutLogDir) {
  start_proxy({"--listen", "127.0.0.1:0", "--hosts-file", hosts_file(), "--allow-private-ranges",
               "127.0.0.0/8", "--enable-host-access", "--allow-host-ports", ports(), "--allow-domains", "allowed.test"},
              false);
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  auto line = proxy_->wait_for_stderr("TCP_MISS:HIER_DIRECT", 5s);
  ASSERT_TRUE(line) << proxy_->stderr_text();
  EXPECT_EQ(parse_detailed(*line).method, "GET");
}

TEST_F(ProxyTest, YamlConfigFileConfiguresTheProxy) {
  std::string yaml = dir_.file("proxy.yaml");
  awf::testing::write_file(yaml, "listen: [\"127.0.0.1:0\"]\nallow-domains: [web.allowed.test]\nhosts-file: " +
                                     hosts_file() + "\nallow-private-ranges: [127.0.0.0/8]\nenable-host-access: true\n"
                                     "allow-host-ports: \"" + ports() + "\"\nlog-dir: " + log_dir() + "\n");
  start_proxy({"--config", yaml}, false);
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  EXPECT_EQ(status_of(web_url("api.allowed.test")), 403);
  EXPECT_EQ(log_lines(2).size(), 2u);
}

TEST_F(ProxyTest, SighupAppliesTheLogFormatAndNamesWhatNeedsARestart) {
  std::string yaml = dir_.file("proxy.yaml");
  const std::string common = "listen: [\"127.0.0.1:0\"]\nallow-domains: [web.allowed.test]\nhosts-file: " +
                             hosts_file() + "\nallow-private-ranges: [127.0.0.0/8]\nenable-host-access: true\n"
                             "allow-host-ports: \"" + ports() + "\"\nlog-dir: " + log_dir() + "\n";
  awf::testing::write_file(yaml, common);
  start_proxy({"--config", yaml}, false);
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/one")), 200);
  ASSERT_EQ(log_lines(1).size(), 1u);
  EXPECT_EQ(log_lines(1)[0].find("TCP_MISS/200"), std::string::npos) << "awf's format first";

  awf::testing::write_file(yaml, common + "log-format: squid\nmax-header-bytes: 4096\n");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(proxy_->wait_for_stderr("log format is now squid", 5s)) << proxy_->stderr_text();
  auto restart = proxy_->wait_for_stderr("need a restart", 5s);
  ASSERT_TRUE(restart) << proxy_->stderr_text();
  EXPECT_NE(restart->find("max-header-bytes"), std::string::npos) << *restart;
  EXPECT_EQ(restart->find("log-format"), std::string::npos) << *restart;
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/two")), 200);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("TCP_MISS/200"), std::string::npos) << "Squid's native line after the reload: " << lines[1];
}

TEST_F(ProxyTest, LogDirIsCreatedPrivateWhenMissing) {
  const std::string dir = dir_.file("new/logs");
  start_proxy({"--allow-domains", "allowed.test", "--log-dir", dir});
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  for (int i = 0; i < 100 && awf::testing::read_file(dir + "/access.log").empty(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(awf::testing::read_file(dir + "/access.log"), "");
}

TEST_F(ProxyTest, Ipv6ListenerServes) {
  auto probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool has_v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_v6) GTEST_SKIP() << "no ::1 here";
  std::vector<std::string> args = base_args();
  args[2] = "[::1]:0";
  args.insert(args.end(), {"--allow-domains", "allowed.test"});
  proxy_ = Process::spawn(args);
  auto listen = proxy_->wait_for_stderr("listening on [::1]:", 10s);
  ASSERT_TRUE(listen) << proxy_->stderr_text();
  std::string port = listen->substr(listen->rfind(':') + 1);
  ASSERT_TRUE(proxy_->wait_for_stderr("ready", 5s));
  RunResult r = awf::testing::run({"curl", "-sS", "--max-time", "10", "--noproxy", "", "-x", "http://[::1]:" + port,
                                   web_url("web.allowed.test")});
  EXPECT_EQ(r.out, "ok") << r.err;
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find(" ::1:"), lines[0].find(' ')) << lines[0];
}

TEST_F(ProxyTest, ConnectionLimitRefusesExtraClientsWithALogLine) {
  start_proxy({"--allow-domains", "allowed.test", "--max-connections", "2", "--threads", "1"});
  auto a = TcpClient::connect("127.0.0.1", port_);
  auto b = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(a && b);
  a->send("GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: a\r\n\r\n");
  b->send("GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(a->read_response().rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_EQ(b->read_response().rfind("HTTP/1.1 200", 0), 0u);
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  bool eof = false;
  c->read_to_eof(3s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_TRUE(proxy_->wait_for_stderr("--max-connections 2 reached", 3s));
}

struct StartupError {
  const char* name;
  std::vector<std::string> args;
  const char* message;
};

class StartupErrors : public ProxyTest, public ::testing::WithParamInterface<StartupError> {};

TEST_P(StartupErrors, ExitNonZeroWithOneClearLine) {
  std::vector<std::string> args = {AWF_PROXY_BIN, "--listen", "127.0.0.1:0"};
  for (const auto& a : GetParam().args) args.push_back(a);
  RunResult r = awf::testing::run(args, 20s);
  EXPECT_NE(r.exit_code, 0);
  auto lines = split(r.err, '\n');
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("awf-proxy: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(GetParam().message), std::string::npos) << lines[0];
}

INSTANTIATE_TEST_SUITE_P(
    Process, StartupErrors,
    ::testing::Values(
        StartupError{"MissingDomainsFile", {"--allow-domains-file", "/nonexistent/allow.txt"}, "/nonexistent/allow.txt"},
        StartupError{"InvalidPolicy", {"--allow-domains", "*"}, "Pattern '*' matches all domains"},
        StartupError{"MissingHostsFile", {"--hosts-file", "/nonexistent/hosts"}, "/nonexistent/hosts"},
        StartupError{"BadListen", {"--listen", "nowhere"}, "--listen \"nowhere\""},
        StartupError{"UncreatableLogDir", {"--log-dir", "/dev/null/logs"}, "/dev/null/logs"},
        StartupError{"UnknownFlag", {"--bogus"}, "bogus"},
        // The DNS front end as its own upstream: queries would loop.
        StartupError{"DnsServerIsTheOwnDnsListener",
                     {"--listen-dns", "127.0.0.1:5399", "--dns-servers", "127.0.0.1:5399"},
                     "--dns-servers 127.0.0.1:5399 is this proxy's own --listen-dns 127.0.0.1:5399"},
        StartupError{"DnsServerReachesTheOwnWildcardDnsListener",
                     {"--listen-dns", "0.0.0.0:5398", "--dns-servers", "127.0.0.9:5398"},
                     "--dns-servers 127.0.0.9:5398 is this proxy's own --listen-dns 0.0.0.0:5398"}),
    [](const ::testing::TestParamInfo<StartupError>& p) { return std::string(p.param.name); });

TEST(StartupErrorsProcess, PortInUseExitsNonZeroNamingTheAddress) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  RunResult r = awf::testing::run({AWF_PROXY_BIN, "--listen", addr}, 20s);
  ::close(fd);
  EXPECT_NE(r.exit_code, 0);
  auto lines = split(r.err, '\n');
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("cannot listen on " + addr), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("in use"), std::string::npos) << lines[0];
}

TEST_F(ProxyTest, ASecondProxyCannotJoinTheSamePort) {
  // Two proxies with different policies on one port would split the traffic
  // between them: the second must fail to start, naming the address.
  start_proxy({"--allow-domains", "web.allowed.test"});
  TempDir other_logs;
  RunResult second = awf::testing::run({AWF_PROXY_BIN, "--listen", proxy_addr(), "--hosts-file", hosts_file(),
                                        "--allow-private-ranges", "127.0.0.0/8", "--allow-domains", "other.test",
                                        "--log-dir", other_logs.path(), "--threads", "2"},
                                       20s);
  EXPECT_NE(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("cannot listen on " + proxy_addr() + " (--listen): bind: Address already in use"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(second.err.find("awf-proxy: ready"), std::string::npos) << second.err;
  // Every request still meets the first proxy's policy.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
    EXPECT_EQ(status_of(web_url("other.test")), 403);
  }
  EXPECT_EQ(log_lines(20).size(), 20u);
}

TEST_F(ProxyTest, ASecondDnsListenerCannotJoinTheSamePort) {
  // UDP too: a second DNS front end on the port would answer half the queries.
  start_proxy({"--allow-domains", "web.allowed.test", "--listen-dns", "127.0.0.1:0"});
  auto dns = proxy_->wait_for_stderr("(dns-udp)", 1s);
  ASSERT_TRUE(dns) << proxy_->stderr_text();
  const std::string line = *dns;
  const auto at = line.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << line;
  const std::string addr = line.substr(at, line.find(' ', at) - at);
  RunResult second = awf::testing::run({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--listen-dns", addr,
                                        "--allow-domains", "other.test"},
                                       20s);
  EXPECT_NE(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("cannot listen on " + addr + " (--listen-dns): bind: Address already in use"),
            std::string::npos)
      << second.err;
}

TEST_F(ProxyTest, TheMachinesHostsFileIsNeverConsulted) {
  // Only --hosts-file and --dns-servers name hosts. A name that only the
  // machine's /etc/hosts knows (here: a private mount namespace's copy, so
  // the test does not touch the real one) must not resolve.
  auto dns = awf::testing::DnsStub::start("127.0.0.53", {{"web.allowed.test", {kWebIp}}});
  ASSERT_TRUE(dns);
  const std::string etc_hosts = dir_.file("etc-hosts");
  awf::testing::write_file(etc_hosts, std::string(kWebIp) + " only-in-etc-hosts.allowed.test\n");
  const std::string dns_server = "127.0.0.53:" + std::to_string(dns->port());
  std::string command = "mount --bind " + etc_hosts + " /etc/hosts && exec " + AWF_PROXY_BIN +
                        " --listen 127.0.0.1:0 --dns-servers " + dns_server +
                        " --allow-private-ranges 127.0.0.0/8 --enable-host-access --allow-host-ports " + ports() +
                        " --allow-domains allowed.test --log-dir " + log_dir();
  proxy_ = Process::spawn({"unshare", "--mount", "--propagation", "private", "sh", "-c", command});
  auto ready = proxy_->wait_for_stderr("awf-proxy: ready", 15s);
  if (!ready && proxy_->stderr_text().find("unshare") != std::string::npos) {
    GTEST_SKIP() << "no mount namespace here: " << proxy_->stderr_text();
  }
  ASSERT_TRUE(ready) << proxy_->stderr_text();
  auto listen = proxy_->wait_for_stderr("listening on 127.0.0.1:", 1s);
  ASSERT_TRUE(listen);
  port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200) << "the DNS server's names resolve";
  EXPECT_NE(status_of(web_url("only-in-etc-hosts.allowed.test")), 200) << "resolved from /etc/hosts";
  EXPECT_EQ(web_->requests(), 1u);
}

TEST_F(ProxyTest, ANameTheDnsServerDeniesIsExplainedAsSuch) {
  // The stub answers NXDOMAIN for names it does not know.
  auto dns = awf::testing::DnsStub::start("127.0.0.53", {{"web.allowed.test", {kWebIp}}});
  ASSERT_TRUE(dns);
  start_proxy({"--allow-domains", "allowed.test", "--dns-servers", "127.0.0.53:" + std::to_string(dns->port())}, true);
  const std::string body_file = dir_.file("body");
  RunResult r = curl({"-o", body_file, "-w", "%{http_code}", web_url("missing.allowed.test")});
  EXPECT_EQ(r.out, "503") << r.err;
  const std::string body = awf::testing::read_file(body_file) + proxy_->stderr_text();
  EXPECT_NE(body.find("missing.allowed.test"), std::string::npos) << body;
  EXPECT_NE(body.find("does not exist (NXDOMAIN)"), std::string::npos) << body;
  EXPECT_EQ(body.find("Could not contact"), std::string::npos) << body;
}

TEST_F(ProxyTest, ANameTheDnsServerRefusesIsExplainedAsSuch) {
  // The upstream server: another awf-proxy's filtering DNS front end, which
  // answers REFUSED for every name its policy does not allow.
  auto upstream = Process::spawn({AWF_PROXY_BIN, "--listen-dns", "127.0.0.54:0", "--allow-domains", "nothing.test",
                                  "--hosts-file", hosts_file()});
  auto line = upstream->wait_for_stderr("(dns-udp)", 15s);
  ASSERT_TRUE(line) << upstream->stderr_text();
  const auto at = line->find("127.0.0.54:");
  const std::string server = line->substr(at, line->find(' ', at) - at);
  start_proxy({"--allow-domains", "allowed.test", "--dns-servers", server}, true);
  const std::string body_file = dir_.file("body");
  RunResult r = curl({"-o", body_file, "-w", "%{http_code}", web_url("refused.allowed.test")});
  EXPECT_EQ(r.out, "503") << r.err;
  const std::string body = awf::testing::read_file(body_file);
  EXPECT_NE(body.find("the DNS server refused the query (REFUSED)"), std::string::npos) << body;
  upstream->signal(SIGTERM);
  upstream->wait(10s);
}

TEST(StartupErrorsProcess, HelpDocumentsEveryOption) {
  RunResult r = awf::testing::run({AWF_PROXY_BIN, "--help"}, 20s);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--config", "--listen", "--allow-domains", "--block-domains", "--allow-domains-file",
                           "--block-domains-file", "--ruleset-file", "--allow-host-ports", "--enable-host-access",
                           "--dns-servers", "--hosts-file", "--allow-private-ranges", "--log-dir", "--log-format",
                           "--log-level", "--threads", "--connect-timeout", "--request-timeout", "--read-timeout",
                           "--client-lifetime", "--max-header-bytes", "--max-connections", "--version", "--help"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(r.out.find("Usage: awf-proxy [OPTIONS]"), std::string::npos) << r.out;
  RunResult v = awf::testing::run({AWF_PROXY_BIN, "--version"}, 20s);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("awf-proxy ", 0), 0u) << v.out;
}

}  // namespace
}  // namespace awf::proxy_test

namespace awf::proxy_test {
namespace {

TEST_F(ProxyTest, RunningOutOfFileDescriptorsIsSurvived) {
  // 64 fds for the whole proxy: the 80 clients below exhaust them, accept
  // fails with EMFILE, the proxy backs off and serves again once they leave.
  if (kSanitized) GTEST_SKIP() << "the sanitizer runtimes need fds of their own; run in the normal build";
  std::vector<std::string> args = {"prlimit", "--nofile=64:64"};
  for (const auto& a : base_args()) args.push_back(a);
  for (const char* a : {"--allow-domains", "allowed.test", "--max-connections", "100000", "--threads", "1"}) {
    args.push_back(a);
  }
  proxy_ = Process::spawn(args);
  auto listen = proxy_->wait_for_stderr("listening on 127.0.0.1:", 10s);
  ASSERT_TRUE(listen) << proxy_->stderr_text();
  port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  ASSERT_TRUE(proxy_->wait_for_stderr("ready", 5s));
  {
    std::vector<TcpClient> hogs;
    for (int i = 0; i < 80; ++i) {
      auto c = TcpClient::connect("127.0.0.1", port_);
      if (c) hogs.push_back(std::move(*c));
    }
    ASSERT_TRUE(proxy_->wait_for_stderr("retrying", 5s)) << proxy_->stderr_text();
  }
  // The hogs are gone (their NONE lines get logged); the proxy serves again.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    served = status_of(web_url("web.allowed.test")) == 200;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served);
  EXPECT_TRUE(proxy_->running());
}

TEST_F(ProxyTest, ClientLifetimeEndsEvenABusyTunnel) {
  start_proxy({"--allow-domains", "allowed.test", "--client-lifetime", "1"});
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  c->send("CONNECT echo.allowed.test:" + std::to_string(echo_->port()) + " HTTP/1.1\r\n\r\n");
  ASSERT_EQ(c->read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - t0 < 5s) {
    closed = !c->send("tick") || c->read_exactly(4, 500ms) != "tick";
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(ProxyTest, OversizedResponseHeadGets502) {
  start_proxy({"--allow-domains", "allowed.test", "--max-header-bytes", "2048"});
  RunResult r = curl({"-i", web_url("web.allowed.test", "/bighead/4000")});
  EXPECT_EQ(r.out.rfind("HTTP/1.1 502", 0), 0u) << r.out;
  EXPECT_EQ(status_of(web_url("web.allowed.test", "/bighead/100")), 200);
}

}  // namespace
}  // namespace awf::proxy_test

namespace awf::proxy_test {
namespace {

// The open-file limit is raised to the hard one at start; a --max-connections
// that even idle tunnels (two descriptors each) could not reach within it is
// said at start, with the numbers, and the proxy still serves.
TEST_F(ProxyTest, MaxConnectionsBeyondWhatTheFdLimitHoldsIsSaidAtStart) {
  start_proxy({"--allow-domains", "allowed.test", "--max-connections", "100000000"});
  const std::string err = proxy_->stderr_text();
  EXPECT_NE(err.find("warning: --max-connections 100000000 is more than the open-file limit allows"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("idle tunnels at two each"), std::string::npos) << err;
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
}

TEST_F(ProxyTest, MaxConnectionsWithinTheFdLimitStartsWithoutAWarning) {
  start_proxy({"--allow-domains", "allowed.test", "--max-connections", "100"});
  EXPECT_EQ(proxy_->stderr_text().find("open-file limit"), std::string::npos) << proxy_->stderr_text();
  EXPECT_EQ(status_of(web_url("web.allowed.test")), 200);
}

}  // namespace
}  // namespace awf::proxy_test
