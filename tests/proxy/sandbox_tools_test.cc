// awf-proxy as the only way out of real sandbox tools' sandboxes: bubblewrap
// --unshare-net, firejail --net=none, podman --network none (a root directory
// made here, no image) and a plain `ip netns` namespace, each with loopback
// only, its own hosts file and a resolv.conf naming 127.0.0.1. awf-proxy
// --netns puts its forward and DNS listeners on the sandbox's loopback and
// connects out from the machine's namespace. Then the socket-activation
// recipe under the real systemd-socket-activate, and the systemd units of
// docs/systemd checked by systemd-analyze. docs/sandboxes.md shows
// these commands; each of its sections names the test that runs it.
#include <fcntl.h>
#include <unistd.h>

#include <regex>

#include "awf/testing/facility.h"
#include "awf/testing/sandboxes.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

using awf::testing::DnsStub;
using awf::testing::Sandbox;
using awf::testing::SandboxKind;

// Lines of access.log holding every one of `parts`.
std::vector<std::string> lines_with(const std::vector<std::string>& lines, const std::vector<std::string>& parts) {
  std::vector<std::string> found;
  for (const auto& line : lines) {
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) found.push_back(line);
  }
  return found;
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

// A network namespace kept open by the test, so that its sockets can still
// be listed once every process has left it (and its inode is not reused by
// another test's namespace meanwhile).
class HeldNetns {
 public:
  explicit HeldNetns(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~HeldNetns() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldNetns(const HeldNetns&) = delete;
  HeldNetns& operator=(const HeldNetns&) = delete;
  bool ok() const { return fd_ >= 0; }

  // `ss -Hatun` inside: every TCP and UDP socket, but those in TIME-WAIT
  // (what the agent's closed connections leave to the kernel for a minute).
  std::vector<std::string> sockets() const {
    RunResult r = awf::testing::run({"nsenter", "--net=/proc/" + std::to_string(::getpid()) + "/fd/" +
                                         std::to_string(fd_), "ss", "-Hatun"},
                                    10s);
    std::vector<std::string> kept;
    for (const auto& line : split(r.out + r.err, '\n')) {
      if (line.find("TIME-WAIT") == std::string::npos) kept.push_back(line);
    }
    return kept;
  }

 private:
  int fd_;
};

class SandboxToolsTest : public ProxyTest, public ::testing::WithParamInterface<SandboxKind> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start sandboxes and enter their namespaces";
    const std::string missing = awf::testing::sandbox_missing(GetParam());
    AWF_REQUIRE_FACILITY(missing.empty(), missing);
    ProxyTest::SetUp();
  }

  // Starts the sandbox, failing the test (with the tool's words) when it
  // does not come up.
  std::unique_ptr<Sandbox> start_sandbox(const std::string& script) {
    auto sandbox = Sandbox::start(GetParam(), script);
    EXPECT_EQ(sandbox->failure(), "") << sandbox->command_text();
    return sandbox;
  }

  std::string web_port() const { return std::to_string(web_->port()); }
};

TEST_P(SandboxToolsTest, TheSandboxHasOnlyLoopbackAndHostsAndResolvConfOfItsOwn) {
  // The machine's /etc/hosts names nothing of the tests'; this one is the
  // sandbox's own whatever the machine's holds.
  auto sandbox = start_sandbox(
      "cat /etc/hosts /etc/resolv.conf; "
      "ip -o link show | sed -E 's/^[0-9]+: ([^:]+): <([^>]*)>.*/\\1 \\2/'; "
      "readlink /proc/self/ns/net");
  ASSERT_EQ(sandbox->failure(), "");
  EXPECT_NE(sandbox->inode(), awf::testing::netns_inode(::getpid()));
  sandbox->release();
  ASSERT_EQ(sandbox->wait(30s), std::optional<int>(0)) << sandbox->errors();
  // The process found for --netns is in the script's namespace.
  EXPECT_EQ(sandbox->output(), "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
                               "nameserver 127.0.0.1\n"
                               "lo LOOPBACK,UP,LOWER_UP\n"
                               "net:[" + std::to_string(sandbox->inode()) + "]\n")
      << sandbox->command_text() << "\n" << sandbox->errors();
}

TEST_P(SandboxToolsTest, AwfProxyInTheSandboxsNamespaceIsItsOnlyWayOutAndNothingOfItOutlivesIt) {
  // The DNS server the proxy asks (outside, on the machine's loopback): it
  // knows the origin's name only.
  auto dns = DnsStub::start("127.0.0.1", {{"web.allowed.test", {kWebIp}}});
  ASSERT_TRUE(dns);
  // Inside: names through the DNS listener (resolv.conf), HTTP through
  // the proxy variables (curl reads http_proxy in lower case only), and a
  // direct connection to the origin, which has no route. getent hosts, not
  // ahosts: getaddrinfo with AI_ADDRCONFIG (which ahosts asks for) counts no
  // loopback address as configured, so in a loopback-only sandbox it asks
  // no server at all.
  const std::string script =
      "export http_proxy=http://127.0.0.1:3128 HTTP_PROXY=http://127.0.0.1:3128\n"
      "status() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 \"$1\"; }\n"
      "echo \"resolved $(getent hosts web.allowed.test | cut -d ' ' -f 1)\"\n"
      "getent hosts other.test || echo 'other.test not resolved'\n"
      "echo \"allowed $(status http://web.allowed.test:" + web_port() + "/)\"\n"
      "echo \"denied $(status http://other.test:" + web_port() + "/)\"\n"
      "curl -s -o /dev/null --max-time 5 --noproxy '*' http://" + std::string(kWebIp) + ":" + web_port() +
      "/; echo \"direct: curl exit $?\"\n";
  auto sandbox = start_sandbox(script);
  ASSERT_EQ(sandbox->failure(), "");
  const HeldNetns held(sandbox->netns());
  ASSERT_TRUE(held.ok()) << sandbox->netns();
  start_proxy({"--netns", sandbox->netns(), "--listen", "127.0.0.1:3128", "--listen-dns", "127.0.0.1:53",
               "--dns-servers", "127.0.0.1:" + std::to_string(dns->port()), "--allow-domains", "allowed.test",
               "--allow-private-ranges", "127.0.0.0/8", "--enable-host-access", "--allow-host-ports", web_port(),
               "--log-dir", log_dir()},
              false);
  sandbox->release();
  ASSERT_EQ(sandbox->wait(60s), std::optional<int>(0)) << sandbox->errors();
  // curl's exit 7: nothing answered at that address inside the sandbox.
  EXPECT_EQ(sandbox->output(), "resolved 127.0.0.11\n"
                               "other.test not resolved\n"
                               "allowed 200\n"
                               "denied 403\n"
                               "direct: curl exit 7\n")
      << sandbox->command_text() << "\n" << sandbox->errors() << proxy_->stderr_text();
  EXPECT_EQ(web_->requests(), 1u);

  // The lines arrive in any order (DNS refusals: one per query, A and AAAA,
  // and glibc may ask twice); waited for until all three kinds are there.
  const std::string allowed = " GET 200 TCP_MISS:HIER_DIRECT http://web.allowed.test:" + web_port() + "/ ";
  const std::string denied = " GET 403 TCP_DENIED:HIER_NONE http://other.test:" + web_port() + "/ ";
  const std::string refused = " DNS 403 TCP_DENIED:HIER_NONE dns://other.test/A ";
  std::vector<std::string> lines;
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(20ms)) {
    lines = log_lines(0);
    if (!lines_with(lines, {allowed}).empty() && !lines_with(lines, {denied}).empty() &&
        !lines_with(lines, {refused}).empty()) {
      break;
    }
  }
  const std::string log = joined_lines(lines);
  EXPECT_EQ(lines_with(lines, {allowed}).size(), 1u) << log;
  EXPECT_EQ(lines_with(lines, {denied}).size(), 1u) << log;
  EXPECT_GE(lines_with(lines, {refused}).size(), 1u) << log;
  EXPECT_EQ(lines_with(lines, {"web.allowed.test", "TCP_DENIED"}).size(), 0u) << log;

  // The sandbox has ended (a named namespace ends when deleted): none of
  // its processes is left, and the tool lists nothing. awf-proxy, which
  // does not notice, still has its listeners there until it is stopped;
  // then no socket is left in the namespace, and no process or mount keeps
  // it (only this test's descriptor).
  sandbox->remove_namespace();
  EXPECT_EQ(awf::testing::netns_users(sandbox->inode()), std::vector<std::string>{});
  EXPECT_EQ(sandbox->leftovers(), std::vector<std::string>{});
  const std::string before = joined_lines(held.sockets());
  EXPECT_NE(before.find("LISTEN"), std::string::npos) << before;
  EXPECT_NE(before.find("127.0.0.1:3128 "), std::string::npos) << before;
  EXPECT_NE(before.find("127.0.0.1:53 "), std::string::npos) << before;
  EXPECT_TRUE(proxy_->running());
  proxy_->signal(SIGTERM);
  EXPECT_EQ(proxy_->wait(15s), std::optional<int>(0)) << proxy_->stderr_text();
  EXPECT_EQ(held.sockets(), std::vector<std::string>{});
  EXPECT_EQ(awf::testing::netns_users(sandbox->inode()), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Tools, SandboxToolsTest,
                         ::testing::Values(SandboxKind::bubblewrap, SandboxKind::firejail, SandboxKind::podman,
                                           SandboxKind::ip_netns),
                         [](const ::testing::TestParamInfo<SandboxKind>& p) {
                           return awf::testing::sandbox_name(p.param);
                         });

// systemd's socket activation, by systemd-socket-activate: it binds the
// sockets, waits for the first connection, then starts awf-proxy with them
// (LISTEN_FDS, and LISTEN_FDNAMES from --fdname, as FileDescriptorName= in
// a socket unit). awf-proxy serves each by its name and binds nothing else.
class SocketActivationTest : public ProxyTest {};

TEST_F(SocketActivationTest, SystemdSocketActivateHandsAwfProxyItsNamedListeners) {
  AWF_REQUIRE_FACILITY(::access("/usr/bin/systemd-socket-activate", X_OK) == 0,
                       "systemd-socket-activate (package systemd) is not installed");
  // An address no other suite uses: systemd-socket-activate needs a port
  // number (it refuses 0), so two runs must not pick the same one.
  const std::string addr = "127.0.93.1";
  const std::uint16_t forward = awf::testing::unused_port(addr);
  std::uint16_t intercept = awf::testing::unused_port(addr);
  while (intercept == forward) intercept = awf::testing::unused_port(addr);
  const std::string forward_at = addr + ":" + std::to_string(forward);
  const std::string intercept_at = addr + ":" + std::to_string(intercept);
  proxy_ = Process::spawn({"systemd-socket-activate", "-l", forward_at, "-l", intercept_at,
                           "--fdname=forward:http-intercept", AWF_PROXY_BIN, "--allow-domains", "allowed.test",
                           "--hosts-file", hosts_file(), "--allow-private-ranges", "127.0.0.0/8",
                           "--enable-host-access", "--allow-host-ports", ports(), "--log-dir", log_dir()});
  ASSERT_TRUE(proxy_->wait_for_stderr("Listening on " + intercept_at, 10s)) << proxy_->stderr_text();
  EXPECT_FALSE(proxy_->wait_for_stderr("awf-proxy", 200ms));  // not started before a client comes

  auto through = [&](const std::string& url) {
    RunResult r = awf::testing::run({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                                     "-x", "http://" + forward_at, url},
                                    30s);
    return r.out + r.err;
  };
  EXPECT_EQ(through(web_url("web.allowed.test")), "200") << proxy_->stderr_text();
  EXPECT_EQ(through(web_url("other.test")), "403");
  // The http-intercept socket takes origin-form requests, as redirected
  // port-80 traffic arrives.
  RunResult intercepted = awf::testing::run(
      {"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "-H",
       "Host: web.allowed.test:" + std::to_string(web_->port()), "http://" + intercept_at + "/"},
      30s);
  EXPECT_EQ(intercepted.out, "200") << intercepted.err;
  EXPECT_EQ(web_->requests(), 2u);

  const std::string err = proxy_->stderr_text();
  EXPECT_NE(err.find("awf-proxy: listening on " + forward_at + " (socket activation)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("awf-proxy: listening on " + intercept_at + " (http-intercept, socket activation)\n"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find(":3128"), std::string::npos) << err;  // no implicit listener beside handed-over ones
  const std::string port = std::to_string(web_->port());
  const std::vector<std::string> lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u) << joined_lines(lines);
  // The forwarded and the intercepted request are logged alike.
  EXPECT_EQ(lines_with(lines, {" GET 200 TCP_MISS:HIER_DIRECT http://web.allowed.test:" + port + "/ "}).size(), 2u)
      << joined_lines(lines);
  EXPECT_EQ(lines_with(lines, {" GET 403 TCP_DENIED:HIER_NONE http://other.test:" + port + "/ "}).size(), 1u)
      << joined_lines(lines);
  // TearDown stops it (SIGTERM, exit 0).
}

// The units docs/sandboxes.md shows, as systemd itself reads them: no
// unknown key, no missing program (awf-proxy taken from this build).
TEST_F(SocketActivationTest, TheDocumentedSystemdUnitsPassSystemdAnalyzeVerify) {
  AWF_REQUIRE_FACILITY(::access("/usr/bin/systemd-analyze", X_OK) == 0,
                       "systemd-analyze (package systemd) is not installed");
  for (const char* unit : {"awf-proxy.socket", "awf-proxy.service"}) {
    const std::string text = awf::testing::read_file(std::string(AWF_DOCS_DIR) + "/systemd/" + unit);
    ASSERT_FALSE(text.empty()) << unit;
    awf::testing::write_file(dir_.file(unit), std::regex_replace(text, std::regex("/usr/local/bin/awf-proxy"),
                                                                 std::string(AWF_PROXY_BIN)));
  }
  EXPECT_NE(awf::testing::read_file(dir_.file("awf-proxy.service")).find(AWF_PROXY_BIN), std::string::npos);
  RunResult r = awf::testing::run(
      {"systemd-analyze", "verify", "--man=no", dir_.file("awf-proxy.socket"), dir_.file("awf-proxy.service")}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(awf::testing::read_file(dir_.file("awf-proxy.socket")).find("\nFileDescriptorName=forward\n"),
            std::string::npos);
}

}  // namespace
}  // namespace awf::proxy_test
