// awf-proxy --netns: the listeners are created inside another network
// namespace (a sandbox's, here one made by unshare(1) with only loopback),
// while the proxy connects out from its own. Real curl inside the sandbox,
// real origin outside.
#include <unistd.h>

#include "awf/testing/facility.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

namespace fs = std::filesystem;

class NetnsListenTest : public ProxyTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to enter another network namespace";
    AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/unshare") && fs::exists("/usr/bin/nsenter"),
                         "unshare and nsenter (util-linux) are not installed");
    ProxyTest::SetUp();
    // A sandbox with a network namespace of its own, loopback up, nothing
    // else: what bubblewrap --unshare-net or unshare --net give a program.
    sandbox_ = Process::spawn({"unshare", "--net", "sh", "-c", "ip link set lo up && echo up >&2 && exec sleep 60"});
    ASSERT_TRUE(sandbox_->wait_for_stderr("up", 10s)) << sandbox_->stderr_text();
    netns_ = "/proc/" + std::to_string(sandbox_->pid()) + "/ns/net";
  }

  void TearDown() override {
    ProxyTest::TearDown();
    if (sandbox_) {
      sandbox_->signal(SIGKILL);
      sandbox_->wait(5s);
    }
  }

  // Runs argv inside the sandbox's network namespace.
  RunResult inside(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"nsenter", "--net=" + netns_, "--"});
    return awf::testing::run(argv, 30s);
  }

  std::unique_ptr<Process> sandbox_;
  std::string netns_;
};

TEST_F(NetnsListenTest, TheSandboxFindsTheProxyOnItsOwnLoopbackAndTheProxyConnectsFromOutside) {
  start_proxy({"--netns", netns_, "--allow-domains", "allowed.test"});
  // Inside: the proxy at 127.0.0.1:port; the origin (outside, 127.0.0.11)
  // is reached through it, a denied name is refused by it.
  RunResult allowed = inside({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-x",
                              proxy_addr(), web_url("web.allowed.test")});
  EXPECT_EQ(allowed.out, "200") << allowed.err;
  RunResult denied = inside({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-x",
                             proxy_addr(), web_url("other.test")});
  EXPECT_EQ(denied.out, "403") << denied.err;
  // Without the proxy the sandbox reaches nothing: its namespace has no
  // route to the origin.
  RunResult direct = inside({"curl", "-sS", "-o", "/dev/null", "--max-time", "5", web_url("127.0.0.11")});
  EXPECT_NE(direct.exit_code, 0) << direct.out;
  EXPECT_EQ(web_->requests(), 1u);
  // Outside, nothing listens at that port for the proxy.
  EXPECT_FALSE(TcpClient::connect("127.0.0.1", port_, 2s));
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[0]), {.method = "GET", .status = "200", .code = "TCP_MISS:HIER_DIRECT"});
  expect_fields(parse_detailed(lines[1]), {.method = "GET", .status = "403", .code = "TCP_DENIED:HIER_NONE"});
}

TEST_F(NetnsListenTest, ABubblewrapSandboxWithoutNetworkGetsOnlyWhatThePolicyAllows) {
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/bwrap"), "bubblewrap is not installed");
  // bwrap --unshare-net: a namespace with loopback only. The sandboxed
  // script says its pid (no --unshare-pid: the host's pid), waits until the
  // proxy is there, then fetches through it and around it.
  const std::string ready = dir_.file("proxy-ready");
  const std::string script =
      "echo pid=$$ >&2; i=0; while [ ! -e " + ready + " ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
      "curl -s -o /dev/null -w '%{http_code} ' --max-time 10 -x 127.0.0.1:3128 " + web_url("web.allowed.test") + "; "
      "curl -s -o /dev/null -w '%{http_code} ' --max-time 10 -x 127.0.0.1:3128 " + web_url("other.test") + "; "
      "curl -s -o /dev/null --max-time 5 " + web_url("127.0.0.11") + " || echo direct-failed";
  auto sandbox = Process::spawn({"bwrap", "--dev-bind", "/", "/", "--unshare-net", "--", "sh", "-c", script});
  auto pid_line = sandbox->wait_for_stderr("pid=", 10s);
  ASSERT_TRUE(pid_line) << sandbox->stderr_text();
  const std::string pid = std::to_string(std::stoi(pid_line->substr(pid_line->find("pid=") + 4)));
  start_proxy({"--netns", "/proc/" + pid + "/ns/net", "--listen", "127.0.0.1:3128", "--hosts-file",
               hosts_file(), "--allow-private-ranges", "127.0.0.0/8", "--enable-host-access", "--allow-host-ports",
               ports(), "--log-dir", log_dir(), "--allow-domains", "allowed.test"},
              false);
  awf::testing::write_file(ready, "");
  ASSERT_EQ(sandbox->wait(30s), std::optional<int>(0)) << sandbox->stderr_text();
  EXPECT_EQ(sandbox->stdout_text(), "200 403 direct-failed\n");
  EXPECT_EQ(web_->requests(), 1u);
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  expect_fields(parse_detailed(lines[1]), {.status = "403", .code = "TCP_DENIED:HIER_NONE"});
}

TEST_F(NetnsListenTest, APathThatIsNotANetworkNamespaceIsNamed) {
  struct Case {
    std::string path, says;
  };
  const Case cases[] = {
      {"/nonexistent/ns/net", "No such file or directory"},
      {"/proc/self/ns/uts", "not a network namespace"},
      {hosts_file(), "not a network namespace"},
  };
  for (const auto& c : cases) {
    RunResult r = awf::testing::run({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--netns", c.path}, 10s);
    EXPECT_EQ(r.exit_code, 1) << c.path;
    EXPECT_NE(r.err.find("--netns \"" + c.path + "\": " + c.says), std::string::npos) << r.err;
  }
}

TEST_F(NetnsListenTest, AUserWithoutTheRightToEnterItIsRefused) {
  // The binary is copied where nobody can run it (the checkout may be root's alone).
  TempDir bin;
  ::chmod(bin.path().c_str(), 0755);
  const std::string proxy = bin.file("awf-proxy");
  fs::copy_file(AWF_PROXY_BIN, proxy);
  ::chmod(proxy.c_str(), 0755);
  TempDir logs;
  ::chmod(logs.path().c_str(), 0777);
  RunResult r = awf::testing::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", proxy,
                                   "--listen", "127.0.0.1:0", "--log-dir", logs.path(), "--netns", netns_},
                                  10s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--netns \"" + netns_ + "\": Permission denied"), std::string::npos) << r.err;
}

TEST_F(NetnsListenTest, TheAdminListenerStaysInTheProxysOwnNamespace) {
  start_proxy({"--netns", netns_, "--allow-domains", "allowed.test", "--admin-listen", "127.0.0.1:0"});
  std::uint16_t admin_port = 0;
  for (const auto& line : split(proxy_->stderr_text(), '\n')) {
    if (line.find(" (admin)") == std::string::npos) continue;
    const std::string address = line.substr(0, line.rfind(" ("));
    admin_port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }
  ASSERT_NE(admin_port, 0) << proxy_->stderr_text();
  const std::string url = "http://127.0.0.1:" + std::to_string(admin_port) + "/healthz";
  // Outside, where the proxy runs: served.
  RunResult here = awf::testing::run({"curl", "-sS", "--noproxy", "*", "--max-time", "10", url}, 15s);
  EXPECT_EQ(here.out, "ok\n") << here.err;
  // Inside the sandbox the same address is its own loopback: nothing there.
  RunResult sandboxed = inside({"curl", "-sS", "--noproxy", "*", "--max-time", "5", url});
  EXPECT_NE(sandboxed.exit_code, 0) << sandboxed.out;
  EXPECT_EQ(sandboxed.out, "");
}

}  // namespace
}  // namespace awf::proxy_test
