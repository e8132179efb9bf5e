// End to end: the real `awf` binary runs commands in its native sandbox the
// way awf's own integration tests do, against origins on
// 127.0.90.x whose names come from a loopback DNS stub. Nothing here leaves
// loopback: the proxy's only upstream resolver is the stub, and every name
// the agent uses resolves to 127.0.90.x.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "awf/testing/dns_stub.h"
#include "awf/testing/facility.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "awf/testing/origin.h"
#include "awf/testing/process.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using awf::testing::DnsStub;
using awf::testing::Origin;
using awf::testing::Process;
using awf::testing::TempDir;

namespace {

constexpr const char* kAwf = AWF_BIN_DIR "/awf";
constexpr const char* kDns = "127.0.90.53";
constexpr const char* kAllowedIp = "127.0.90.10";
constexpr const char* kDeniedIp = "127.0.90.11";

struct AwfRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string log_dir;
  std::string access_log() const { return awf::testing::read_file(log_dir + "/access.log"); }
  std::string audit_log() const { return awf::testing::read_file(log_dir + "/audit.jsonl"); }
};

std::string count_lines_with(const std::string& text, const std::string& a, const std::string& b = "") {
  std::istringstream in(text);
  std::string line, hits;
  while (std::getline(in, line)) {
    if (line.find(a) != std::string::npos && (b.empty() || line.find(b) != std::string::npos)) hits += line + "\n";
  }
  return hits;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

class AwfEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    // The suite's fixed addresses and ports (DNS on :53, origins on :80 and
    // :443) live in a network namespace of its own: no listener of the
    // machine's and no other test process can be in their way.
    netns_error_ = awf::testing::enter_private_network();
    if (!netns_error_.empty()) return;
    certs_ = std::make_unique<TempDir>();
    state_ = std::make_unique<TempDir>();
    // The machine's /etc/hosts may name the test's hosts (CI's does): every
    // run gets this one instead, so that names come from the DNS stub.
    etc_ = std::make_unique<TempDir>();
    ::chmod(etc_->path().c_str(), 0755);
    awf::testing::write_file(etc_->file("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    ::chmod(etc_->file("hosts").c_str(), 0644);
    const std::map<std::string, std::vector<std::string>> names = {
        {"allowed.test", {kAllowedIp}},      {"api.allowed.test", {kAllowedIp}},
        {"blocked.allowed.test", {kAllowedIp}}, {"sub.wild.test", {kAllowedIp}},
        {"wild.test", {kAllowedIp}},         {"denied.test", {kDeniedIp}},
    };
    dns_ = DnsStub::start(kDns, names, 53);
    allowed_http_ = Origin::start({.host = kAllowedIp, .kind = Origin::Kind::http, .cert_dir = "", .port = 80});
    allowed_https_ =
        Origin::start({.host = kAllowedIp, .kind = Origin::Kind::https, .cert_dir = certs_->path(), .port = 443});
    denied_http_ = Origin::start({.host = kDeniedIp, .kind = Origin::Kind::http, .cert_dir = "", .port = 80});
    denied_https_ =
        Origin::start({.host = kDeniedIp, .kind = Origin::Kind::https, .cert_dir = certs_->path(), .port = 443});
  }
  static void TearDownTestSuite() {
    allowed_http_.reset();
    allowed_https_.reset();
    denied_http_.reset();
    denied_https_.reset();
    dns_.reset();
    certs_.reset();
    state_.reset();
    etc_.reset();
  }

  void SetUp() override {
    AWF_REQUIRE_FACILITY(geteuid() == 0, "end-to-end tests need root (namespaces, nftables)");
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for the suite's origins: " + netns_error_);
    AWF_REQUIRE_FACILITY(fs::exists(kAwf), std::string("awf binary missing at ") + kAwf);
    AWF_REQUIRE_FACILITY(dns_ && allowed_http_ && allowed_https_ && denied_http_ && denied_https_,
                     "could not start the loopback DNS stub and origins on 127.0.90.x:53/80/443");
    for (const char* tool : {"/usr/bin/curl", "/usr/bin/dig", "/usr/bin/python3"}) {
      AWF_REQUIRE_FACILITY(fs::exists(tool), std::string(tool) + " is not installed");
    }
  }

  // Runs awf with the test's DNS and private-range opt-in (origins live on
  // loopback, which the SSRF guard refuses otherwise) and a fresh log dir.
  AwfRun awf(std::vector<std::string> flags, std::vector<std::string> command,
             std::vector<std::string> env = {}, std::chrono::milliseconds timeout = 60s) {
    auto logs = std::make_shared<TempDir>();
    log_dirs_.push_back(logs);
    std::vector<std::string> argv = {kAwf, "--dns-servers", kDns, "--allow-private-ranges", "127.0.90.0/24",
                                     "--hosts-file", hosts_file(), "--proxy-logs-dir", logs->path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    // awf records every run for `awf logs`: in this test's own place, never
    // the machine's /var/lib/awf.
    env.push_back("AWF_STATE_DIR=" + state_->path());
    auto p = Process::spawn(argv, env);
    AwfRun r;
    r.log_dir = logs->path();
    auto code = p->wait(timeout);
    r.exit_code = code ? *code : -1;
    r.out = p->stdout_text();
    r.err = p->stderr_text();
    return r;
  }

  static std::unique_ptr<TempDir> certs_, state_, etc_;
  static std::string hosts_file() { return etc_->file("hosts"); }
  static inline std::string netns_error_;
  static std::unique_ptr<DnsStub> dns_;
  static std::unique_ptr<Origin> allowed_http_, allowed_https_, denied_http_, denied_https_;
  std::vector<std::shared_ptr<TempDir>> log_dirs_;
};

std::unique_ptr<TempDir> AwfEndToEnd::certs_, AwfEndToEnd::state_, AwfEndToEnd::etc_;
std::unique_ptr<DnsStub> AwfEndToEnd::dns_;
std::unique_ptr<Origin> AwfEndToEnd::allowed_http_, AwfEndToEnd::allowed_https_, AwfEndToEnd::denied_http_,
    AwfEndToEnd::denied_https_;

const std::vector<std::string> kAllowOne = {"--allow-domains", "allowed.test"};

// curl printing only the status code; -k because the throwaway origin
// certificate names *.test only (what is tested is where the bytes go).
std::vector<std::string> curl_code(const std::string& url, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return argv;
}

TEST_F(AwfEndToEnd, AllowedDomainWorksThroughTheForwardProxy) {
  auto r = awf(kAllowOne, curl_code("http://allowed.test/"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200");
  EXPECT_EQ(last_line(r.err), "Process exiting with code: 0");
  EXPECT_NE(count_lines_with(r.access_log(), " GET 200 TCP_MISS:HIER_DIRECT http://allowed.test/"), "")
      << r.access_log();
}

TEST_F(AwfEndToEnd, AllowedHttpsGoesThroughAConnectTunnel) {
  auto r = awf(kAllowOne, curl_code("https://allowed.test/"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200");
  EXPECT_NE(count_lines_with(r.access_log(), "CONNECT 200 TCP_TUNNEL:HIER_DIRECT allowed.test:443"), "")
      << r.access_log();
}

TEST_F(AwfEndToEnd, ProxyUnawareClientsAreInterceptedUnderTheSamePolicy) {
  auto https = awf(kAllowOne, curl_code("https://allowed.test/", {"--noproxy", "*"}));
  EXPECT_EQ(https.exit_code, 0) << https.err;
  EXPECT_EQ(https.out, "200");
  EXPECT_NE(count_lines_with(https.access_log(), "TCP_TUNNEL", "allowed.test:443"), "") << https.access_log();

  auto http = awf(kAllowOne, curl_code("http://allowed.test/", {"--noproxy", "*"}));
  EXPECT_EQ(http.exit_code, 0) << http.err;
  EXPECT_EQ(http.out, "200");
  EXPECT_NE(count_lines_with(http.access_log(), "TCP_MISS", "allowed.test"), "") << http.access_log();
}

TEST_F(AwfEndToEnd, TheHostsProxyVariablesChainAllowedRequestsThroughTheParentAndNoProxyGoesDirect) {
  // The parent: a second awf-proxy, as a corporate proxy would be.
  TempDir parent_logs;
  auto parent = Process::spawn({AWF_BIN_DIR "/awf-proxy", "--listen", "127.0.0.1:0", "--dns-servers", kDns,
                                "--hosts-file", hosts_file(), "--allow-private-ranges", "127.0.90.0/24",
                                "--allow-domains", "allowed.test", "--log-dir", parent_logs.path(), "--threads", "1"});
  ASSERT_TRUE(parent->wait_for_stderr("awf-proxy: ready", 15s)) << parent->stderr_text();
  auto listen = parent->wait_for_stderr("listening on 127.0.0.1:", 1s);
  ASSERT_TRUE(listen);
  const std::string parent_addr = "127.0.0.1:" + listen->substr(listen->rfind(':') + 1);

  auto r = awf(kAllowOne,
               {"sh", "-c",
                "curl -s -o /dev/null -w '%{http_code} ' http://allowed.test/chained; "
                "curl -sk -o /dev/null -w '%{http_code} ' --noproxy '*' https://allowed.test/; "
                "curl -s -o /dev/null -w '%{http_code}' http://api.allowed.test/direct"},
               {"HTTPS_PROXY=http://" + parent_addr, "no_proxy=api.allowed.test,10.0.0.0/8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 200 200") << r.err;
  EXPECT_NE(r.err.find("Using upstream proxy http://" + parent_addr + " from HTTPS_PROXY"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no_proxy entry \"10.0.0.0/8\" ignored"), std::string::npos) << r.err;
  // awf's log: the parent's address for chained requests, the origin's for
  // the bypassed one.
  const std::string log = r.access_log();
  EXPECT_NE(count_lines_with(log, parent_addr + " 1.1 GET 200 TCP_MISS:DEFAULT_PARENT http://allowed.test/chained"), "")
      << log;
  EXPECT_NE(count_lines_with(log, "CONNECT 200 TCP_TUNNEL:DEFAULT_PARENT allowed.test:443"), "") << log;
  EXPECT_NE(count_lines_with(log, std::string(kAllowedIp) + ":80 1.1 GET 200 TCP_MISS:HIER_DIRECT http://api.allowed.test/direct"), "")
      << log;
  // The parent saw the two chained requests and not the bypassed one.
  // The parent logs a tunnel when it closes, which may be a moment after awf
  // has exited.
  std::string upstream;
  for (int i = 0; i < 250; ++i) {
    upstream = awf::testing::read_file(parent_logs.file("access.log"));
    if (std::count(upstream.begin(), upstream.end(), '\n') >= 2) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(count_lines_with(upstream, "GET 200 TCP_MISS:HIER_DIRECT http://allowed.test/chained"), "") << upstream;
  EXPECT_NE(count_lines_with(upstream, "CONNECT 200 TCP_TUNNEL:HIER_DIRECT allowed.test:443"), "") << upstream;
  EXPECT_EQ(upstream.find("api.allowed.test"), std::string::npos) << upstream;
  parent->signal(SIGTERM);
  EXPECT_EQ(parent->wait(15s), std::optional<int>(0)) << parent->stderr_text();
}

TEST_F(AwfEndToEnd, ReportModeLetsTheCommandRunAndItsLogBecomesAnAllowlistThatPolicyCheckAccepts) {
  auto r = awf({"--allow-domains", "api.allowed.test", "--policy-mode", "report"},
               {"sh", "-c",
                "curl -s -o /dev/null -w '%{http_code} ' http://denied.test/; "
                "curl -sk -o /dev/null -w '%{http_code} ' https://allowed.test/; "
                "curl -sk -o /dev/null -w '%{http_code}' --noproxy '*' https://sub.wild.test/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 200 200") << r.err;
  EXPECT_NE(r.err.find("--policy-mode report: the domain policy is not enforced"), std::string::npos) << r.err;
  const std::string audit = r.audit_log();
  EXPECT_EQ(count_lines_with(audit, "\"would_deny\":\"not_in_allowlist\"").empty(), false) << audit;
  EXPECT_EQ(audit.find("TCP_DENIED"), std::string::npos) << audit;

  // The log, turned into an allowlist, lets exactly those names through.
  TempDir out;
  const std::string file = out.file("allow.txt");
  auto suggest = Process::spawn({kAwf, "logs", "suggest", "--source", r.log_dir, "-o", file});
  ASSERT_EQ(suggest->wait(30s), std::optional<int>(0)) << suggest->stderr_text();
  const std::string list = awf::testing::read_file(file);
  EXPECT_NE(list.find("\ndenied.test\n"), std::string::npos) << list;
  EXPECT_NE(list.find("\nallowed.test\n"), std::string::npos) << list;
  EXPECT_NE(list.find("\nsub.wild.test\n"), std::string::npos) << list;
  auto check = Process::spawn({kAwf, "policy", "check", "--allow-domains-file", file, "http://denied.test/",
                               "allowed.test:443", "sub.wild.test:443", "other.test:443"});
  const auto code = check->wait(30s);
  const std::string decided = check->stdout_text();
  EXPECT_NE(decided.find("ALLOW GET http://denied.test/"), std::string::npos) << decided;
  EXPECT_NE(decided.find("ALLOW CONNECT allowed.test:443"), std::string::npos) << decided;
  EXPECT_NE(decided.find("ALLOW CONNECT sub.wild.test:443"), std::string::npos) << decided;
  EXPECT_NE(decided.find("DENY CONNECT other.test:443"), std::string::npos) << decided;
  EXPECT_NE(code, std::optional<int>(0)) << "other.test was never asked for";
}

TEST_F(AwfEndToEnd, DeniedDomainGets403AndATcpDeniedLineAndTheReport) {
  const std::size_t before = denied_http_->requests();
  auto r = awf(kAllowOne, {"curl", "-sf", "--max-time", "10", "http://denied.test/"});
  EXPECT_EQ(r.exit_code, 22) << r.err;  // curl -f: HTTP error
  EXPECT_EQ(denied_http_->requests(), before) << "the denied origin must never see the request";
  EXPECT_NE(count_lines_with(r.access_log(), "403 TCP_DENIED:HIER_NONE", "denied.test"), "") << r.access_log();
  EXPECT_NE(r.err.find("Firewall blocked domains"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("denied.test"), std::string::npos) << r.err;
  EXPECT_EQ(last_line(r.err), "Process exiting with code: 22");
}

TEST_F(AwfEndToEnd, DeniedHttpsConnectFails) {
  auto r = awf(kAllowOne, curl_code("https://denied.test/"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(count_lines_with(r.access_log(), "CONNECT 403 TCP_DENIED:HIER_NONE denied.test:443"), "")
      << r.access_log();
}

TEST_F(AwfEndToEnd, WildcardsAndBlocklistPrecedence) {
  auto r = awf({"--allow-domains", "*.wild.test,allowed.test", "--block-domains", "blocked.allowed.test"},
               {"/bin/bash", "-c",
                "for u in http://sub.wild.test/ http://wild.test/ http://api.allowed.test/ "
                "http://blocked.allowed.test/; do curl -s -o /dev/null -w \"$u %{http_code}\\n\" --max-time 10 $u; "
                "done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "http://sub.wild.test/ 200\n"
            "http://wild.test/ 403\n"  // *.x needs at least one label before the suffix
            "http://api.allowed.test/ 200\n"
            "http://blocked.allowed.test/ 403\n");
}

TEST_F(AwfEndToEnd, EmptyAllowlistDeniesEverythingButOfflineCommandsWork) {
  auto r = awf({}, {"/bin/bash", "-c",
                    "echo offline-ok; curl -s -o /dev/null -w '%{http_code}\\n' --max-time 10 http://allowed.test/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "offline-ok\n403\n");
  // Said once, before the command starts (awf says it only at debug level).
  EXPECT_EQ(count_lines_with(r.err, "No allowed domains specified"),
            "[WARN] No allowed domains specified - all network access will be blocked\n")
      << r.err;
  EXPECT_LT(r.err.find("No allowed domains specified"), r.err.find("Firewall blocked domains")) << r.err;
}

TEST_F(AwfEndToEnd, DeniedRequestsAreReportedEvenWhenTheCommandSucceeds) {
  auto r = awf(kAllowOne, {"curl -s -o /dev/null --max-time 10 http://denied.test/ || true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[WARN] Firewall blocked domains:\n"
                       "[WARN]   - Blocked: denied.test (domain not in allowlist)\n"
                       "[WARN] Allowed domains:\n"
                       "[WARN]   - Allowed: allowed.test\n"
                       "[WARN] To fix domain issues: --allow-domains \"allowed.test,denied.test\"\n"
                       "[SUCCESS] Command completed successfully\n"),
            std::string::npos)
      << r.err;
  auto clean = awf(kAllowOne, {"curl -s -o /dev/null --max-time 10 http://allowed.test/"});
  EXPECT_EQ(clean.err.find("Firewall blocked domains"), std::string::npos) << "nothing denied, nothing said";
}

TEST_F(AwfEndToEnd, ExitCodesPropagate) {
  for (int code : {0, 1, 2, 42, 127, 255}) {
    auto r = awf(kAllowOne, {"exit " + std::to_string(code)});
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(last_line(r.err), "Process exiting with code: " + std::to_string(code));
  }
  EXPECT_EQ(awf(kAllowOne, {"false | true"}).exit_code, 0);
  EXPECT_EQ(awf(kAllowOne, {"true && exit 3"}).exit_code, 3);
  EXPECT_EQ(awf(kAllowOne, {"false || exit 4"}).exit_code, 4);
  EXPECT_EQ(awf(kAllowOne, {"no-such-command-anywhere"}).exit_code, 127);
}

// AWF_TRACE_STARTUP: awf, awf-proxy and awf-entrypoint each mark their
// phases on stderr from one origin, in the order the start-up must take;
// the command never sees the variable; without it nothing is printed.
TEST_F(AwfEndToEnd, TheStartUpTraceTimesEveryProgramFromOneOriginAndStaysOutOfTheCommand) {
  auto r = awf(kAllowOne, {"echo \"[${AWF_TRACE_STARTUP-unset}]\""}, {"AWF_TRACE_STARTUP=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[unset]\n");
  std::map<std::string, long> at;  // "program: mark" -> µs
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("awf-trace: ", 0) != 0) continue;
    std::istringstream fields(line.substr(11));
    long us = -1;
    std::string program, mark;
    fields >> us >> program;
    std::getline(fields >> std::ws, mark);
    at.emplace(program + ": " + mark, us);
  }
  // Each phase after the one it depends on.
  const std::vector<std::string> chain = {
      "awf: main", "awf: clone", "awf: agent: listeners sent", "awf: agent: ruleset applied",
      "awf-entrypoint: main", "awf-entrypoint: launch planned", "awf-entrypoint: start gate passed",
      "awf-entrypoint: child: confined, exec", "awf-entrypoint: command reaped", "awf: command ended",
      "awf: proxy stop", "awf: proxy stopped", "awf: exit"};
  const std::vector<std::string> proxy_chain = {"awf: listeners received", "awf: proxy started", "awf-proxy: main",
                                                "awf-proxy: server created", "awf: proxy ready",
                                                "awf-entrypoint: start gate passed"};
  // awf reads the logs once the proxy closed them, and reaps it before exiting.
  const std::vector<std::string> stop_chain = {"awf: proxy stop", "awf-proxy: stopped", "awf: exit"};
  for (const auto* list : {&chain, &proxy_chain, &stop_chain}) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      ASSERT_EQ(at.count((*list)[i]), 1u) << (*list)[i] << " missing in:\n" << r.err;
      EXPECT_GE(at[(*list)[i]], 0) << (*list)[i];
      if (i > 0) {
        EXPECT_LE(at[(*list)[i - 1]], at[(*list)[i]]) << (*list)[i - 1] << " after " << (*list)[i];
      }
    }
  }
  auto quiet = awf(kAllowOne, {"true"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("awf-trace:"), std::string::npos) << quiet.err;
}

TEST_F(AwfEndToEnd, SeveralArgumentsAreQuotedAndOneIsAShellString) {
  auto joined = awf(kAllowOne, {"printf", "%s|", "a b", "$HOME", "it's"});
  EXPECT_EQ(joined.out, "a b|$HOME|it's|");
  auto shell = awf(kAllowOne, {"echo $((6 * 7))"});
  EXPECT_EQ(shell.out, "42\n");
}

TEST_F(AwfEndToEnd, SigtermStopsTheCommandAndExits143) {
  auto logs = std::make_shared<TempDir>();
  auto p = Process::spawn({kAwf, "--dns-servers", kDns, "--hosts-file", hosts_file(), "--proxy-logs-dir", logs->path(), "--allow-domains",
                           "allowed.test", "--", "echo started; sleep 30"},
                          {"AWF_STATE_DIR=" + state_->path()});
  ASSERT_TRUE(p);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100 && p->stdout_text().find("started") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  p->signal(SIGTERM);
  auto code = p->wait(15s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 143) << p->stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 12s);
  EXPECT_EQ(last_line(p->stderr_text()), "Process exiting with code: 143");
}

TEST_F(AwfEndToEnd, AgentTimeoutGives124) {
  // awf's --agent-timeout is in whole minutes: this test takes one.
  auto r = awf({"--allow-domains", "allowed.test", "--agent-timeout", "1"}, {"sleep 300"}, {}, 120s);
  EXPECT_EQ(r.exit_code, 124) << r.err;
  EXPECT_EQ(last_line(r.err), "Process exiting with code: 124");
}

// As in awf, the agent's localhost is its own: a dev server it starts answers
// it there (by address and by name, IPv4 and IPv6, proxy variables set or
// not), while its access log stays empty of it and the rest stays closed.
TEST_F(AwfEndToEnd, TheAgentsOwnLocalhostServerAnswers) {
  const std::string script =
      "python3 -m http.server --bind 127.0.0.1 8765 >/dev/null 2>&1 & v4=$!; "
      "python3 -m http.server --bind ::1 8766 >/dev/null 2>&1 & v6=$!; "
      "for i in $(seq 50); do "
      "  curl -s -o /dev/null --noproxy '*' http://127.0.0.1:8765/ && curl -s -o /dev/null --noproxy '*' "
      "  'http://[::1]:8766/' && break; sleep 0.1; done; "
      "curl -s -o /dev/null -w 'v4 %{http_code}\\n' --max-time 5 http://127.0.0.1:8765/; "
      "curl -s -o /dev/null -w 'name %{http_code}\\n' --max-time 5 http://localhost:8765/; "
      "curl -s -o /dev/null -w 'v6 %{http_code}\\n' --max-time 5 'http://[::1]:8766/'; "
      "curl -s -o /dev/null -w 'other-port %{http_code}\\n' --max-time 5 http://127.0.0.1:8767/; "
      "kill $v4 $v6";
  auto r = awf(kAllowOne, {script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "v4 200\nname 200\nv6 200\nother-port 000\n") << r.err;
  EXPECT_EQ(count_lines_with(r.access_log(), "8765"), "") << r.access_log();
}

TEST_F(AwfEndToEnd, DnsAnswersAllowedNamesAndRefusesTheRest) {
  auto r = awf(kAllowOne, {"/bin/bash", "-c",
                           "dig +short +time=3 +tries=1 allowed.test; "
                           "dig +time=3 +tries=1 denied.test | grep -o 'status: [A-Z]*'; "
                           "dig +tcp +short +time=3 +tries=1 allowed.test; "
                           // Another resolver is not a way out: port 53 anywhere reaches our front end.
                           "dig @127.0.90.53 +time=3 +tries=1 denied.test | grep -o 'status: [A-Z]*'"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(kAllowedIp) + "\nstatus: REFUSED\n" + kAllowedIp + "\nstatus: REFUSED\n");
  EXPECT_NE(count_lines_with(r.access_log(), "DNS", "denied.test"), "") << r.access_log();
}

TEST_F(AwfEndToEnd, DomainFrontingInAProxyTunnelIsRefusedUnlessTheCheckIsOff) {
  // CONNECT allowed.test:443 through the proxy, then a ClientHello naming
  // denied.test (openssl s_client -proxy: a real client, fronting).
  const std::string script =
      "p=${HTTPS_PROXY#http://}; p=${p%/}; "
      "openssl s_client -brief -proxy \"$p\" -connect allowed.test:443 -servername denied.test "
      "</dev/null >/dev/null 2>&1 && echo fronted || echo refused";
  auto r = awf(kAllowOne, {script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "refused\n") << r.err;
  const std::string log = r.access_log();
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE denied.test:443"), std::string::npos) << log;
  // awf passes --tunnel-sni-check off to its proxy: the same tunnel is relayed.
  auto off = awf({"--allow-domains", "allowed.test", "--tunnel-sni-check", "off"}, {script});
  EXPECT_EQ(off.out, "fronted\n") << off.err;
  EXPECT_EQ(off.access_log().find("TCP_DENIED"), std::string::npos) << off.access_log();
}

TEST_F(AwfEndToEnd, BypassAttemptsFail) {
  const std::string script =
      // Proxy variables are advice: ignoring them lands on the interceptors.
      "NO_PROXY='*' curl -s -o /dev/null -w 'no_proxy %{http_code}\\n' --max-time 5 http://denied.test/; "
      "curl --noproxy '*' -sk -o /dev/null --max-time 5 https://denied.test/ || echo noproxy-https-failed; "
      // The SNI decides, not the address curl was told to dial.
      "curl --noproxy '*' -sk -o /dev/null --max-time 5 --connect-to denied.test:443:allowed.test:443 "
      "https://denied.test/ || echo connect-to-failed; "
      // Raw IP of an allowed origin, through the proxy and around it.
      "curl -s -o /dev/null -w 'raw-ip %{http_code}\\n' --max-time 5 http://127.0.90.10/; "
      "curl --noproxy '*' -s -o /dev/null --max-time 5 http://127.0.90.10:8080/ || echo other-port-failed; "
      "curl -s -o /dev/null -w 'ipv6 %{http_code}\\n' --max-time 5 'http://[2001:db8::10]/'; "
      // UDP anywhere but DNS is rejected.
      "python3 -c \""
"import socket\n"
"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)\n"
"try:\n"
"    s.connect(('127.0.90.10', 9999)); s.send(b'x'); s.recv(10); print('udp-answered')\n"
"except (ConnectionRefusedError, PermissionError): print('udp-refused')\n"
"except socket.timeout: print('udp-timeout')\n"
"\"";
  const std::size_t http_before = denied_http_->requests();
  const std::size_t tls_before = denied_https_->connections();
  auto r = awf(kAllowOne, {script});
  EXPECT_EQ(r.out,
            "no_proxy 403\n"
            "noproxy-https-failed\n"
            "connect-to-failed\n"
            "raw-ip 403\n"
            "other-port-failed\n"
            "ipv6 403\n"
            "udp-refused\n")
      << r.err;
  EXPECT_EQ(denied_http_->requests(), http_before) << "the denied origin must never be reached";
  EXPECT_EQ(denied_https_->connections(), tls_before) << "the denied origin must never be reached";
}

TEST_F(AwfEndToEnd, TheCommandHasNoCapabilitiesAndRunsAsTheMappedUser) {
  auto r = awf(kAllowOne, {"id -u; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status; "
                           "unshare -n true 2>/dev/null || echo unshare-denied; "
                           "mount -t tmpfs none /tmp 2>/dev/null || echo mount-denied"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "1000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
            "NoNewPrivs:\t1\nunshare-denied\nmount-denied\n");
}

TEST_F(AwfEndToEnd, CredentialFilesOfTheHostUserAreHidden) {
  TempDir home;
  fs::create_directories(home.path() + "/.aws");
  fs::create_directories(home.path() + "/.ssh");
  awf::testing::write_file(home.file(".aws/credentials"), "aws_secret_access_key=SECRET\n");
  awf::testing::write_file(home.file(".ssh/id_rsa"), "PRIVATE KEY\n");
  auto r = awf(kAllowOne, {"cat ~/.aws/credentials ~/.ssh/id_rsa 2>/dev/null; echo \"[$?]\""},
               {"HOME=" + home.path()});
  EXPECT_EQ(r.out.find("SECRET"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("PRIVATE"), std::string::npos) << r.out;
}

TEST_F(AwfEndToEnd, EnvironmentPrecedenceFollowsAwf) {
  auto r = awf({"--allow-domains", "allowed.test", "--env-all", "-e", "OVERRIDDEN=from-e", "-e", "SET_BY_E=yes"},
               {"echo \"$HOST_ONLY|$OVERRIDDEN|$SET_BY_E|${GITHUB_TOKEN:-no-token}|$HTTPS_PROXY\""},
               {"HOST_ONLY=host", "OVERRIDDEN=host", "GITHUB_TOKEN=ghp_secret"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "host|from-e|yes|no-token|http://127.0.0.1:3128\n");
}

TEST_F(AwfEndToEnd, MountsAreReadOnlyOrWritableAsAsked) {
  TempDir data;  // made 0700; the command runs as the mapped user and must be able to read it
  fs::permissions(data.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
  awf::testing::write_file(data.file("hello.txt"), "hello from the host\n");
  auto r = awf({"--allow-domains", "allowed.test", "-v", data.path() + ":/data:ro"},
               {"cat /data/hello.txt; touch /data/new 2>/dev/null || echo read-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from the host\nread-only\n");
}

TEST_F(AwfEndToEnd, LogsSubcommandsReadTheProducedFiles) {
  auto r = awf(kAllowOne, {"curl -s -o /dev/null --max-time 10 http://allowed.test/; "
                           "curl -s -o /dev/null --max-time 10 http://denied.test/; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = awf::testing::run({kAwf, "logs", "stats", "--format", "json", "--source", r.log_dir});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"allowedRequests\": 1"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"deniedRequests\": 1"), std::string::npos) << stats.out;
  auto summary = awf::testing::run({kAwf, "logs", "summary", "--source", r.log_dir});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("<summary>Firewall Activity</summary>"), std::string::npos) << summary.out;
  EXPECT_NE(summary.out.find("denied.test"), std::string::npos) << summary.out;
}

TEST_F(AwfEndToEnd, SummaryCountsARefusedNameApartFromDeniedRequests) {
  // curl ignoring the proxy resolves the name itself: the resolver's A and
  // AAAA queries (and its retries) are refused, and no request is made.
  auto r = awf(kAllowOne, {"curl --noproxy '*' -s -o /dev/null --max-time 5 http://denied.test/; "
                           "curl -s -o /dev/null --max-time 10 http://allowed.test/; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(count_lines_with(r.access_log(), " DNS ", "dns://denied.test/"), "") << r.access_log();
  auto summary = awf::testing::run({kAwf, "logs", "summary", "--source", r.log_dir});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("\u25bc 1 request | 1 allowed | 0 blocked | 1 unique domain | 1 name refused by DNS\n"),
            std::string::npos)
      << summary.out << r.access_log();
  EXPECT_NE(summary.out.find("| Refused by DNS | Lookups |\n|----------------|---------|\n| denied.test | "),
            std::string::npos)
      << summary.out;
  EXPECT_NE(summary.out.find("| deny-default | \U0001F6AB deny | 0 |"), std::string::npos)
      << "rule hits count requests too: " << summary.out;
  auto stats = awf::testing::run({kAwf, "logs", "stats", "--format", "json", "--source", r.log_dir});
  EXPECT_NE(stats.out.find("\"deniedRequests\": 0,"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"dnsRefusals\": {\n    \"names\": 1,"), std::string::npos) << stats.out;
  // The post-run report names the refused domain once.
  EXPECT_EQ(count_lines_with(r.err, "Blocked: denied.test"), "[WARN]   - Blocked: denied.test (domain not in allowlist)\n")
      << r.err;
}

// `awf logs` on a run that is still going: `--source running` finds its log
// directory (recorded by awf, marked live by the proxy's pid file) and `-f`
// prints its lines as the requests happen, then ends with the run. Run as awf
// is run most of the time: no --proxy-logs-dir, logs in the work directory.
TEST_F(AwfEndToEnd, LogsFollowsALiveRunAsItsRequestsHappen) {
  TempDir tmp, state, sync;
  ::chmod(sync.path().c_str(), 0755);  // the command (uid 1000) looks for the go file there
  const std::vector<std::string> env = {"TMPDIR=" + tmp.path(), "AWF_STATE_DIR=" + state.path()};
  const std::string script =
      "curl -s -o /dev/null --max-time 10 http://allowed.test/first; "
      "for i in $(seq 300); do [ -e /sync/go ] && break; sleep 0.1; done; "
      "curl -s -o /dev/null --max-time 10 http://allowed.test/second";
  auto run = Process::spawn({kAwf, "--dns-servers", kDns, "--hosts-file", hosts_file(), "--allow-private-ranges",
                             "127.0.90.0/24", "--allow-domains", "allowed.test", "-v", sync.path() + ":/sync:ro", "--",
                             script},
                            env);
  ASSERT_TRUE(run);
  auto awf_logs = [&env](std::vector<std::string> args) {
    args.insert(args.begin(), {kAwf, "logs"});
    auto p = Process::spawn(args, env);
    const auto code = p->wait(20s);
    return std::make_tuple(code.value_or(-1), p->stdout_text(), p->stderr_text());
  };
  auto wait_for = [](const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
    return done();
  };

  // The first request is in the live log, and `--source running` reads it.
  std::string live;
  ASSERT_TRUE(wait_for(
      [&] {
        auto [code, out, err] = awf_logs({"--source", "running", "--format", "raw"});
        live = out + err;
        return code == 0 && out.find("http://allowed.test/first") != std::string::npos;
      },
      30s))
      << live << run->stderr_text();
  auto [list_code, list, list_err] = awf_logs({"--list"});
  EXPECT_EQ(list_code, 0) << list_err;
  EXPECT_NE(list.find("  [running] " + tmp.path() + "/awf-"), std::string::npos) << list;
  EXPECT_NE(list.find("/squid-logs (live awf-proxy)"), std::string::npos) << list;

  // A follower started now prints the first line at once and the second as
  // it happens.
  auto follower = Process::spawn({kAwf, "logs", "-f", "--format", "raw"}, env);
  ASSERT_TRUE(wait_for([&] { return follower->stdout_text().find("/first") != std::string::npos; }, 20s))
      << follower->stdout_text() << follower->stderr_text();
  EXPECT_EQ(follower->stdout_text().find("/second"), std::string::npos) << "the command has not made it yet";
  EXPECT_NE(follower->stderr_text().find("[INFO] Using live logs from running firewall: " + tmp.path() + "/awf-"),
            std::string::npos)
      << follower->stderr_text();
  awf::testing::write_file(sync.file("go"), "");
  EXPECT_TRUE(wait_for([&] { return follower->stdout_text().find("/second") != std::string::npos; }, 20s))
      << follower->stdout_text() << follower->stderr_text();

  // The run ends, and the follower with it, having printed each line once.
  const auto code = run->wait(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << run->stderr_text();
  const auto follower_code = follower->wait(10s);
  ASSERT_TRUE(follower_code.has_value()) << "a follower of a live run ends when the run does";
  EXPECT_EQ(*follower_code, 0) << follower->stderr_text();
  auto lines_with = [](const std::string& text, const std::string& needle) {
    const auto hits = count_lines_with(text, needle);
    return std::count(hits.begin(), hits.end(), '\n');
  };
  EXPECT_EQ(lines_with(follower->stdout_text(), "http://allowed.test/first"), 1) << follower->stdout_text();
  EXPECT_EQ(lines_with(follower->stdout_text(), "http://allowed.test/second"), 1) << follower->stdout_text();

  // Afterwards nothing is live, and the preserved logs hold both requests.
  auto [after_code, after_out, after_err] = awf_logs({"--source", "running"});
  EXPECT_EQ(after_code, 1);
  EXPECT_NE(after_err.find("No running awf firewall found"), std::string::npos) << after_err;
  auto [raw_code, raw, raw_err] = awf_logs({"--format", "raw"});
  EXPECT_EQ(raw_code, 0) << raw_err;
  EXPECT_NE(raw_err.find("[INFO] Using preserved logs from: " + tmp.path() + "/squid-logs-"), std::string::npos)
      << raw_err;
  EXPECT_NE(raw.find("http://allowed.test/first"), std::string::npos) << raw;
  EXPECT_NE(raw.find("http://allowed.test/second"), std::string::npos) << raw;
  const std::string marker = "Using preserved logs from: ";
  const auto at = raw_err.find(marker);
  ASSERT_NE(at, std::string::npos) << raw_err;
  const std::string preserved = raw_err.substr(at + marker.size(), raw_err.find('\n', at) - at - marker.size());
  EXPECT_FALSE(fs::exists(preserved + "/awf-proxy.pid")) << "the pid file goes when the proxy does";
}

TEST_F(AwfEndToEnd, RootlessRunUsesAUserNamespaceAndStillFilters) {
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/setpriv"), "setpriv (util-linux) is not installed");
  AWF_REQUIRE_FACILITY(awf::testing::read_file("/proc/sys/user/max_user_namespaces") != "0\n",
                   "unprivileged user namespaces are disabled (user.max_user_namespaces=0)");
  TempDir parent;
  fs::permissions(parent.path(), fs::perms::all);  // awf (unprivileged) creates its log dir in it
  const std::string log_dir = parent.file("logs");
  // env(1) sets HOME: the unprivileged user's home, not root's.
  auto p = Process::spawn({"/usr/bin/env", "HOME=" + parent.path(), "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", kAwf,
                           "--dns-servers", kDns, "--hosts-file", hosts_file(), "--allow-private-ranges", "127.0.90.0/24", "--proxy-logs-dir",
                           log_dir, "--allow-domains", "allowed.test", "--",
                           "id -u; curl -s -o /dev/null -w '%{http_code} ' --max-time 10 http://allowed.test/; "
                           "curl -s -o /dev/null -w '%{http_code}\\n' --max-time 10 http://denied.test/"});
  auto code = p->wait(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << p->stderr_text();
  EXPECT_EQ(p->stdout_text(), "65534\n200 403\n") << p->stderr_text();
  EXPECT_NE(count_lines_with(awf::testing::read_file(log_dir + "/access.log"), "TCP_DENIED", "denied.test"), "");
}

// Processes this test process has as children now (pids), zombies reaped
// first.
std::vector<int> living_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  std::vector<int> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = awf::testing::read_file(entry.path() / "stat");
    // pid (comm) state ppid ...: comm may hold spaces, so from the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == ::getpid()) {
      found.push_back(std::stoi(name));
    }
  }
  return found;
}

TEST_F(AwfEndToEnd, NothingIsLeftBehindAfterARun) {
  // Whatever awf leaves running, however deep it was started, is
  // reparented here rather than to init when its parent ends: then "no
  // child left" means nothing of this run is left, whatever other tests
  // run beside this one.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << std::strerror(errno);
  auto mounts_before = awf::testing::mounts_but_other_suites();
  auto netns_before = awf::testing::named_netns_but_other_suites();
  auto r = awf(kAllowOne, {"sleep 0.2; curl -s -o /dev/null --max-time 5 http://allowed.test/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(awf::testing::mounts_but_other_suites(), mounts_before);
  EXPECT_EQ(awf::testing::named_netns_but_other_suites(), netns_before);
  std::vector<int> left = living_children();
  for (int i = 0; i < 20 && !left.empty(); ++i) {  // an exit in progress gets a moment
    std::this_thread::sleep_for(50ms);
    left = living_children();
  }
  std::string shown;
  for (int pid : left) shown += awf::testing::read_file("/proc/" + std::to_string(pid) + "/cmdline") + "\n";
  EXPECT_TRUE(left.empty()) << shown;
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}


// ---- Attacks from inside the sandbox on the host and on awf's own records ----

// A Unix socket some host program listens on, as tmux, ssh-agent or an editor
// server would; counts the connections it accepted.
class HostSocket {
 public:
  explicit HostSocket(const std::string& path) : path_(path) {
    fs::create_directories(fs::path(path).parent_path());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd_, 16) == 0;
    ::chmod(path.c_str(), 0777);  // any local user could connect: only the sandbox may stop it
  }
  ~HostSocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  int accepted() {
    int n = 0;
    for (int c; (c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0; ++n) ::close(c);
    return n;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

// Python run inside the sandbox: tries each socket path, prints one line each.
std::string connect_probe(const std::vector<std::string>& paths) {
  std::string list;
  for (const auto& p : paths) list += "'" + p + "',";
  return "python3 -c \"\n"
         "import socket\n"
         "for p in [" + list + "]:\n"
         "    s = socket.socket(socket.AF_UNIX)\n"
         "    try:\n"
         "        s.connect(p); print('reached', p)\n"
         "    except OSError as e:\n"
         "        print('refused', p)\n"
         "\"";
}

void make_walkable(const std::string& dir) {
  for (fs::path p = dir; p != p.root_path() && !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) ::chmod(p.c_str(), (st.st_mode & 07777) | 0011);
  }
}

TEST_F(AwfEndToEnd, HostUnixSocketsAreOutOfTheSandboxesReach) {
  // Directories outside the test's TempDirs, removed however the test ends
  // (an ASSERT returns early).
  struct RemovedAtEnd {
    std::vector<std::string> paths;
    ~RemovedAtEnd() {
      std::error_code ec;
      for (const auto& p : paths) fs::remove_all(p, ec);
    }
  } cleanup;
  char tmp_template[] = "/tmp/awf-e2e-XXXXXX";  // the host's /tmp itself, whatever $TMPDIR says
  ASSERT_NE(::mkdtemp(tmp_template), nullptr);
  const std::string host_tmp_area = tmp_template;
  cleanup.paths.push_back(host_tmp_area);
  TempDir home;
  make_walkable(host_tmp_area);
  make_walkable(home.path());
  char run_dir_template[] = "/run/awf-e2e-XXXXXX";
  const bool have_run = ::mkdtemp(run_dir_template) != nullptr;
  AWF_REQUIRE_FACILITY(have_run, "cannot create a directory under /run");
  const std::string run_dir = run_dir_template;
  cleanup.paths.push_back(run_dir);
  ::chmod(run_dir.c_str(), 0755);
  {
    // One socket in each place host programs keep them.
    std::vector<std::unique_ptr<HostSocket>> sockets;
    for (const std::string& path : {host_tmp_area + "/tmux-1000/default",   // /tmp
                                    home.path() + "/.agent.sock",                  // $HOME itself
                                    home.path() + "/.cache/editor/ipc.sock",        // an allowed $HOME directory
                                    home.path() + "/.config/tool/a/b/daemon.sock",  // deeper in one
                                    run_dir + "/user-bus",                          // /run/user/<uid>, /var/run
                                    "/var/run/" + fs::path(run_dir).filename().string() + "-docker.sock"}) {
      sockets.push_back(std::make_unique<HostSocket>(path));
      ASSERT_TRUE(sockets.back()->ok()) << path;
      make_walkable(fs::path(path).parent_path().string());
    }
    std::vector<std::string> paths;
    for (const auto& s : sockets) paths.push_back(s->path());
    // The command's own sockets in its private /tmp keep working.
    const std::string own =
        "python3 -c \"import socket,os; s=socket.socket(socket.AF_UNIX); s.bind('/tmp/own.sock'); s.listen(1); "
        "c=socket.socket(socket.AF_UNIX); c.connect('/tmp/own.sock'); print('own socket works')\"; ";
    auto r = awf(kAllowOne, {own + connect_probe(paths)}, {"HOME=" + home.path()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string expected = "own socket works\n";
    for (const auto& p : paths) expected += "refused " + p + "\n";
    EXPECT_EQ(r.out, expected) << r.err;
    for (const auto& s : sockets) EXPECT_EQ(s->accepted(), 0) << s->path() << " was reached from the sandbox";

    // The probe can tell: with the host's /tmp shared on request (awf's way,
    // with a warning), the socket there is reachable again.
    auto shared = awf({"--allow-domains", "allowed.test", "--share-host-tmp"}, {connect_probe({paths[0]})},
                      {"HOME=" + home.path()});
    EXPECT_EQ(shared.out, "reached " + paths[0] + "\n") << shared.err;
    EXPECT_NE(shared.err.find("--share-host-tmp"), std::string::npos) << "sharing warns: " << shared.err;
    EXPECT_EQ(sockets[0]->accepted(), 1);
  }
}

TEST_F(AwfEndToEnd, HostsFileDecidesForTheCommandAndTheProxyWhateverEtcHostsSays) {
  // A machine whose /etc/hosts names the test hosts elsewhere (a private
  // mount namespace's copy: the real one is not touched).
  TempDir etc;
  make_walkable(etc.path());
  awf::testing::write_file(etc.file("polluted"), "127.0.0.1 localhost\n127.0.0.1 allowed.test\n");
  awf::testing::write_file(etc.file("ours"), "127.0.0.1 localhost\n" + std::string(kAllowedIp) + " only-in-ours.test\n");
  ::chmod(etc.file("ours").c_str(), 0644);
  auto run = [&](const std::vector<std::string>& hosts_flag) {
    std::string command = "mount --bind " + etc.file("polluted") + " /etc/hosts && exec " + kAwf + " --dns-servers " +
                          kDns + " --allow-private-ranges 127.0.90.0/24 --allow-domains allowed.test,only-in-ours.test";
    for (const auto& f : hosts_flag) command += " " + f;
    command += " -- '"
               "curl -s -o /dev/null -w \"%{http_code} \" --max-time 10 http://allowed.test/; "
               "curl -s -o /dev/null -w \"%{http_code}\" --max-time 10 http://only-in-ours.test/'";
    auto p = Process::spawn({"unshare", "--mount", "--propagation", "private", "sh", "-c", command},
                            {"AWF_STATE_DIR=" + state_->path()});
    auto code = p->wait(60s);
    return std::make_pair(code.value_or(-1), p->stdout_text() + "|" + p->stderr_text());
  };
  // --hosts-file: the command's /etc/hosts and the proxy's names both come
  // from it; allowed.test is left to the DNS stub.
  auto [code, out] = run({"--hosts-file", etc.file("ours")});
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.substr(0, out.find('|')), "200 200") << out;
  // Without it, the machine's /etc/hosts is used, as awf does: allowed.test
  // then means 127.0.0.1, which the address guard refuses.
  auto [code2, out2] = run({});
  EXPECT_EQ(out2.substr(0, out2.find('|')), "403 503") << out2;
}

// Wraps a word for sh in single quotes.
std::string sh_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

TEST_F(AwfEndToEnd, GhAwDirectoriesAreSharedWithThePrivateTmp) {
  // /tmp/gh-aw is where awf's workflows exchange files with the command: it
  // must still be the host's directory inside the private /tmp.
  //
  // Creating /tmp/gh-aw on the machine would change every other awf run that
  // starts meanwhile (they would share it, and fail if it went away before
  // their sandbox mounted it). So awf runs in a mount namespace of the test's
  // own whose /tmp is a fresh tmpfs showing the machine's /tmp entries bound
  // back in (the build tree may lie under /tmp) plus a gh-aw directory that
  // exists only there, in place of the machine's own if it has one.
  TempDir outputs_parent;
  make_walkable(outputs_parent.path());
  std::string awf_argv = sh_quote(kAwf);
  for (const std::string& arg :
       {std::string("--dns-servers"), std::string(kDns), std::string("--allow-private-ranges"),
        std::string("127.0.90.0/24"), std::string("--hosts-file"), hosts_file(), std::string("--proxy-logs-dir"),
        outputs_parent.path(), std::string("--allow-domains"), std::string("allowed.test"), std::string("--"),
        std::string("echo from-inside > /tmp/gh-aw/marker; ls /tmp")}) {
    awf_argv += " " + sh_quote(arg);
  }
  const std::string script =
      "set -e; cd /tmp; mount -t tmpfs -o mode=1777 awf-e2e-tmp /tmp; "
      // The shell still stands in the machine's /tmp, now covered: bind each
      // entry back by its relative name, which the kernel resolves from there
      // (mount would otherwise turn it into /tmp/NAME, the new empty one).
      // Other tests' entries may vanish meanwhile: those are left out.
      "for e in * .[!.]* ..?*; do "
      "  [ \"$e\" = gh-aw ] && continue; "
      "  if [ -L \"$e\" ]; then cp -P \"$e\" \"/tmp/$e\" 2>/dev/null || true; continue; fi; "
      "  [ -e \"$e\" ] || continue; "
      "  if [ -d \"$e\" ]; then mkdir \"/tmp/$e\"; else : > \"/tmp/$e\"; fi; "
      "  mount --no-canonicalize --rbind \"$e\" \"/tmp/$e\" 2>/dev/null || true; "
      "done; "
      "mkdir -m 0777 /tmp/gh-aw; cd " + sh_quote(fs::current_path().string()) + "; set +e; " + awf_argv +
      "; code=$?; printf 'marker=%s\\n' \"$(cat /tmp/gh-aw/marker)\"; exit $code";
  auto p = Process::spawn({"unshare", "--mount", "--propagation", "private", "sh", "-c", script},
                          {"AWF_STATE_DIR=" + state_->path()});
  auto code = p->wait(60s);
  const std::string out = p->stdout_text();
  ASSERT_EQ(code.value_or(-1), 0) << out << p->stderr_text();
  EXPECT_NE(out.find("marker=from-inside\n"), std::string::npos) << out << p->stderr_text();
  EXPECT_FALSE(fs::exists("/tmp/gh-aw/marker")) << "the run wrote to the machine's /tmp";
  // Nothing else of the host's /tmp is visible, except the way down to the
  // workspace (awf's working directory, bound in) when the checkout itself
  // lies under /tmp.
  std::set<std::string> expected{"gh-aw"};
  const fs::path cwd = fs::current_path();
  if (auto it = cwd.begin(); cwd.is_absolute() && ++it != cwd.end() && *it == "tmp" && ++it != cwd.end()) {
    expected.insert(it->string());
  }
  std::set<std::string> seen;
  std::istringstream lines(out.substr(0, out.find("marker=")));
  for (std::string line; std::getline(lines, line);) seen.insert(line);
  EXPECT_EQ(seen, expected) << out;
}

TEST_F(AwfEndToEnd, SocketFamiliesBeyondUnixInetAndNetlinkAreRefused) {
  auto r = awf(kAllowOne, {"python3 -c \"\n"
                           "import socket\n"
                           "for name, family, kind in [('unix', socket.AF_UNIX, socket.SOCK_STREAM),\n"
                           "        ('inet', socket.AF_INET, socket.SOCK_STREAM), ('inet6', socket.AF_INET6, socket.SOCK_STREAM),\n"
                           "        ('netlink', socket.AF_NETLINK, socket.SOCK_RAW), ('vsock', 40, socket.SOCK_STREAM),\n"
                           "        ('packet', 17, socket.SOCK_RAW), ('bluetooth', 31, socket.SOCK_STREAM),\n"
                           "        ('alg', 38, socket.SOCK_SEQPACKET), ('huge', 0x10000028, socket.SOCK_STREAM)]:\n"
                           "    try:\n"
                           "        socket.socket(family, kind).close(); print(name, 'created')\n"
                           "    except OSError as e:\n"
                           "        print(name, e.errno)\n"
                           "try:\n"
                           "    socket.socketpair(40, socket.SOCK_STREAM); print('vsock pair created')\n"
                           "except OSError as e:\n"
                           "    print('vsock pair', e.errno)\n"
                           "\""});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "unix created\ninet created\ninet6 created\nnetlink created\n"
            "vsock 97\npacket 97\nbluetooth 97\nalg 97\nhuge 97\nvsock pair 97\n")
      << r.err;
}

// awf run without --proxy-logs-dir, so that it preserves the logs itself,
// under a $TMPDIR the command shares (--share-host-tmp: the worst case).
struct PreservingRun {
  AwfRun run;
  std::string tmpdir;
};

class AwfPreservation : public AwfEndToEnd {
 protected:
  void SetUp() override {
    AwfEndToEnd::SetUp();
    if (IsSkipped()) return;
    // A world-writable, sticky $TMPDIR like /tmp, reachable by the command.
    make_walkable(tmp_.path());
    ::chmod(tmp_.path().c_str(), 01777);
    make_walkable(state_dir_.path());
  }
  AwfRun run(const std::string& script) {
    std::vector<std::string> argv = {kAwf, "--dns-servers", kDns, "--hosts-file", hosts_file(),
                                     "--allow-private-ranges", "127.0.90.0/24", "--allow-domains", "allowed.test",
                                     "--share-host-tmp", "--", script};
    auto p = Process::spawn(argv, {"TMPDIR=" + tmp_.path(), "AWF_STATE_DIR=" + state_dir_.path()});
    AwfRun r;
    auto code = p->wait(60s);
    r.exit_code = code ? *code : -1;
    r.out = p->stdout_text();
    r.err = p->stderr_text();
    const std::string marker = "Squid logs preserved at: ";
    if (auto at = r.err.find(marker); at != std::string::npos) {
      r.log_dir = r.err.substr(at + marker.size(), r.err.find('\n', at) - at - marker.size());
    }
    return r;
  }
  // The command learns its run's timestamp from the work directory it sees.
  std::string plant(const std::string& what) const {
    return "d=$(ls -d " + tmp_.path() + "/awf-*); ms=${d##*-}; " + what +
           "; curl -s -o /dev/null --max-time 10 http://allowed.test/planted";
  }
  awf::testing::TempDir tmp_, state_dir_;
};

TEST_F(AwfPreservation, RootNeverWritesThroughALinkTheCommandPlanted) {
  TempDir secret_dir;  // 0700, root's
  const std::string secret = secret_dir.file("secret");
  awf::testing::write_file(secret, "root only\n");
  ::chmod(secret.c_str(), 0600);
  const std::string planted = tmp_.path() + "/squid-logs-$ms";
  auto r = run(plant("mkdir " + planted + " && ln -s " + secret + " " + planted + "/access.log"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(awf::testing::read_file(secret), "root only\n") << "root wrote through the planted link";
  struct stat st {};
  ASSERT_EQ(::stat(secret.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // The logs are kept, under a name nobody could have planted, and said so.
  ASSERT_FALSE(r.log_dir.empty()) << r.err;
  EXPECT_EQ(fs::path(r.log_dir).parent_path(), fs::path(tmp_.path()));
  EXPECT_NE(count_lines_with(awf::testing::read_file(r.log_dir + "/access.log"), "http://allowed.test/planted"), "");
  EXPECT_NE(r.err.find("already existed and was not made by this run"), std::string::npos) << r.err;
  ASSERT_EQ(::lstat(r.log_dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(AwfPreservation, APlainFileAtThePreservedNameDoesNotEraseTheLogs) {
  auto r = run(plant("echo decoy > " + tmp_.path() + "/squid-logs-$ms"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.log_dir.empty()) << r.err;
  EXPECT_NE(count_lines_with(awf::testing::read_file(r.log_dir + "/access.log"), "http://allowed.test/planted"), "")
      << r.err;
}

TEST_F(AwfPreservation, AwfLogsBelievesOnlyTheRunsAwfRecorded) {
  auto r = run(plant("mkdir " + tmp_.path() + "/squid-logs-999999999999999 && "
                     "echo '1.0 127.0.0.1:1 forged.test:80 - 1.1 GET 200 TCP_MISS:HIER_DIRECT http://forged.test/ \"-\"'"
                     " > " + tmp_.path() + "/squid-logs-999999999999999/access.log"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.log_dir.empty()) << r.err;
  // A forged directory of root's own making but not recorded is no better.
  awf::testing::write_file(tmp_.path() + "/squid-logs-999999999999998/access.log", "forged\n");
  const std::vector<std::string> env = {"TMPDIR=" + tmp_.path(), "AWF_STATE_DIR=" + state_dir_.path()};
  auto list = Process::spawn({kAwf, "logs", "--list"}, env);
  ASSERT_TRUE(list->wait(20s).has_value());
  EXPECT_NE(list->stdout_text().find(r.log_dir), std::string::npos) << list->stdout_text();
  EXPECT_EQ(list->stdout_text().find("99999999999999"), std::string::npos) << list->stdout_text();
  auto raw = Process::spawn({kAwf, "logs", "--format", "raw"}, env);
  ASSERT_TRUE(raw->wait(20s).has_value());
  EXPECT_NE(raw->stdout_text().find("http://allowed.test/planted"), std::string::npos) << raw->stderr_text();
  EXPECT_EQ(raw->stdout_text().find("forged"), std::string::npos) << raw->stdout_text();
}

}  // namespace
