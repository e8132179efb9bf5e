// run_native() end to end with stand-ins: runtime_fake_proxy for awf-proxy
// (socket activation, ready line, answers with the listener kind) and /bin/sh
// for awf-entrypoint. Exit codes, 124/130/143, proxy failures, what the
// command can reach, log preservation, and that nothing is left behind.
#include <signal.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "awf/runtime/runtime.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "test_support.h"

namespace awf::runtime {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace test;

// awf-entrypoint's calling convention, minus everything it does: skip the
// flags up to "--", then exec the command, but as awf-entrypoint only when
// 'G' arrives at the start gate (closed before the command exists); EOF
// there ends the run.
constexpr const char* kStandInEntrypoint =
    "gate=; while [ \"$1\" != -- ]; do if [ \"$1\" = --start-gate ]; then gate=$2; fi; shift; done; shift; "
    "[ -n \"$gate\" ] || exit 1; "
    "eval \"go=\\$(dd bs=64 count=1 status=none <&$gate); exec $gate<&-\"; [ \"$go\" = G ] || exit 1; "
    "exec \"$@\"";

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string last_err_line() const {
    std::string trimmed = err;
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    const auto nl = trimmed.rfind('\n');
    return nl == std::string::npos ? trimmed : trimmed.substr(nl + 1);
  }
};

std::string read_fd(int fd) {
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// Counts processes whose command line contains `marker`.
int processes_with(const std::string& marker) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    if (cmdline.find(marker) != std::string::npos) ++count;
  }
  return count;
}

std::string unique_marker() {
  static std::atomic<int> n{0};
  return std::to_string(::getpid()) + "." + std::to_string(++n) + "1";
}

class NativeRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    AWF_REQUIRE_NAMESPACES();
    tmp_ = fs::temp_directory_path() / ("awf-runtime-test-" + unique_marker());
    fs::create_directories(tmp_);
    config_.proxy_path = AWF_TEST_FAKE_PROXY;
    config_.entrypoint_path = "/bin/sh";
    config_.entrypoint_args = {"-c", kStandInEntrypoint, "awf-entrypoint"};
    config_.tmp_dir = tmp_.string();
    config_.stop_grace = 300ms;
    config_.proxy_stop_grace = 2000ms;
    config_.proxy_ready_timeout = 5000ms;
    config_.agent_env = {"PATH=/usr/bin:/bin"};
  }
  void TearDown() override {
    std::error_code ec;
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }

  // run_native in a child process (it blocks signals and forks: keep that out
  // of the test runner), with stdout and stderr captured. `during` runs in
  // the test while the child does, given its pid.
  Outcome run(const std::function<void(pid_t)>& during = {}, uid_t run_as = 0) {
    const int out_fd = ::memfd_create("stdout", MFD_CLOEXEC);
    const int err_fd = ::memfd_create("stderr", MFD_CLOEXEC);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      if (run_as != 0 && (::setgroups(0, nullptr) != 0 || ::setgid(run_as) != 0 || ::setuid(run_as) != 0)) {
        std::fprintf(stderr, "cannot become uid %d: %s\n", static_cast<int>(run_as), std::strerror(errno));
        ::_exit(99);
      }
      // A process that left root is not dumpable, which makes its /proc
      // files root's: a user who started awf directly is dumpable.
      if (run_as != 0) ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
      auto result = run_native(config_);
      if (!result) {
        std::fprintf(stderr, "[ERROR] %s\n", result.message().c_str());
        print_exit_line(1);
      }
      std::fflush(nullptr);
      ::_exit(result ? *result : 1);
    }
    if (during) during(pid);
    int status = 0;
    ::waitpid(pid, &status, 0);
    Outcome outcome;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    outcome.out = read_fd(out_fd);
    outcome.err = read_fd(err_fd);
    ::close(out_fd);
    ::close(err_fd);
    return outcome;
  }

  void command(std::vector<std::string> argv) { config_.command = std::move(argv); }
  void shell(const std::string& script) { command({"/bin/sh", "-c", script}); }

  RuntimeConfig config_;
  fs::path tmp_;
};

TEST_F(NativeRuntime, ExitCodesPropagateUnchanged) {
  for (int code : {0, 1, 2, 42, 127, 255}) {
    shell("exit " + std::to_string(code));
    Outcome o = run();
    EXPECT_EQ(o.exit_code, code) << o.err;
    EXPECT_EQ(o.last_err_line(), "Process exiting with code: " + std::to_string(code)) << o.err;
  }
}

TEST_F(NativeRuntime, CommandOutputIsStreamedUntouched) {
  shell("printf 'out\\n'; printf 'err\\n' >&2");
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "out\n");
  EXPECT_EQ(o.err.rfind("err\n", 0), 0u) << o.err;
}

TEST_F(NativeRuntime, CommandSeesProxyVariablesAndCliEnvironment) {
  config_.agent_env.push_back("FROM_CLI=yes");
  shell("echo $HTTP_PROXY $HTTPS_PROXY $http_proxy $https_proxy $NO_PROXY $no_proxy $FROM_CLI $AWF_USER_UID "
        "$AWF_DNS_SERVERS");
  config_.uid = 1234;
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::string url = "http://127.0.0.1:3128";
  EXPECT_EQ(o.out, url + " " + url + " " + url + " " + url +
                       " localhost,127.0.0.1,::1 localhost,127.0.0.1,::1 yes 1234 127.0.0.1\n");
}

TEST_F(NativeRuntime, TheCliEnvironmentWinsOverRuntimeDefaults) {
  // awf lets -e change the proxy variables; the CLI resolves that precedence.
  config_.agent_env.push_back("HTTPS_PROXY=http://127.0.0.1:9");
  config_.agent_env.push_back("AWF_USER_UID=2000");
  config_.agent_env.push_back("AWF_DNS_SERVERS=8.8.8.8");
  shell("echo $HTTPS_PROXY $HTTP_PROXY $AWF_USER_UID $AWF_DNS_SERVERS");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "http://127.0.0.1:9 http://127.0.0.1:3128 2000 8.8.8.8\n");
}

TEST_F(NativeRuntime, CommandReachesTheProxyListenersThroughTheRuleset) {
  const std::string probe = AWF_TEST_PROBE;
  shell(probe + " tcp 127.0.0.1 3128; " + probe + " tcp 127.0.0.5 80; " + probe + " tcp 203.0.113.9 443; " + probe +
        " udp 127.0.0.2 53; " + probe + " tcp 127.0.0.2 9999; " + probe + " udp 127.0.0.2 9999; true");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out,
            "connected: forward 127.0.0.1:3128\n"
            "connected: http-intercept 127.0.0.5:80\n"
            "connected: tls-intercept 203.0.113.9:443\n"
            "reply: dns-udp\n"
            "refused\n"
            "error send: Operation not permitted\n")
      << o.err;
}

TEST_F(NativeRuntime, DescriptorsInheritedByAwfDoNotReachTheCommand) {
  // An fd of a host directory would be a way around the entrypoint's chroot.
  UniqueFd host_dir(::open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(host_dir.valid());
  ASSERT_EQ(::dup2(host_dir.get(), 57), 57);
  shell("ls /proc/self/fd");
  Outcome o = run();
  ::close(57);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "0\n1\n2\n3\n") << "only stdio (and ls's own directory fd)";
}

TEST_F(NativeRuntime, CommandIsPidOneOfItsOwnNamespacesWithoutTheHostNetwork) {
  // The stand-in entrypoint execs the shell, so the shell is PID 1.
  shell("echo pid=$$; ls /sys/class/net");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.substr(0, 6), "pid=1\n");
}

TEST_F(NativeRuntime, ProxyGetsPolicyFlagsAndLogDirectory) {
  config_.allow_domains = {"github.com,api.example.com", "x.org"};
  config_.block_domains = {"bad.github.com"};
  config_.allow_host_ports = "3000-3010";
  config_.enable_host_access = true;
  config_.dns_servers = {"8.8.8.8", "1.1.1.1"};
  config_.dns_policy = "allowlist";
  config_.tunnel_sni_check = false;
  config_.enable_dlp = true;
  config_.report_only = true;
  config_.allowed_methods = "GET,HEAD";
  config_.upstream_proxy = "http://proxy.corp.test:8080";
  config_.upstream_bypass = "corp.test,svc.test";
  config_.proxy_logs_dir = (tmp_ / "logs").string();
  shell("true");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::ifstream in(tmp_ / "logs" / "argv.txt");
  std::stringstream argv;
  argv << in.rdbuf();
  EXPECT_EQ(argv.str(), std::string(AWF_TEST_FAKE_PROXY) +
                            "\n--allow-domains\ngithub.com,api.example.com\n--allow-domains\nx.org\n"
                            "--block-domains\nbad.github.com\n--allow-host-ports\n3000-3010\n"
                            "--enable-host-access\n--dns-servers\n8.8.8.8,1.1.1.1\n--dns-policy\nallowlist\n"
                            "--tunnel-sni-check\noff\n--policy-mode\nreport\n--allowed-methods\nGET,HEAD\n--enable-dlp\n"
                            "--upstream-proxy\nhttp://proxy.corp.test:8080\n--upstream-bypass\ncorp.test,svc.test\n"
                            "--log-dir\n" + (tmp_ / "logs").string() + "\n--log-level\ninfo\n");
  // Flushed on SIGTERM after the command, and world-readable.
  EXPECT_TRUE(fs::exists(tmp_ / "logs" / "access.log"));
  struct stat st {};
  ASSERT_EQ(::stat((tmp_ / "logs" / "access.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0004, 0004);
}

TEST_F(NativeRuntime, ApiListenersAreHandedOverWithTheirFlagsAndTheProxyEnvironment) {
  config_.ports.api = {{"openai", 10000}, {"anthropic", 10001}};
  config_.api_ca_cert = "/etc/awf/provider-ca.pem";
  config_.proxy_env = {"AWF_ALLOWED_MODELS=[\"gpt-5*\"]", "HOME=/proxy-home"};
  config_.proxy_logs_dir = (tmp_ / "logs").string();
  const std::string probe = AWF_TEST_PROBE;
  shell(probe + " tcp 127.0.0.1 10000; " + probe + " tcp 127.0.0.1 10001; " + probe + " tcp 127.0.0.1 10002; " +
        probe + " tcp 127.0.0.7 10000; true");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out,
            "connected: api-openai 127.0.0.1:10000\n"
            "connected: api-anthropic 127.0.0.1:10001\n"
            "refused\n"
            "refused\n")
      << "only the listed providers, on 127.0.0.1 only";
  const std::string argv = awf::testing::read_file((tmp_ / "logs" / "argv.txt").string());
  EXPECT_NE(argv.find("\n--api-listen\nopenai=127.0.0.1:10000\n--api-listen\nanthropic=127.0.0.1:10001\n"
                      "--api-ca-cert\n/etc/awf/provider-ca.pem\n"),
            std::string::npos)
      << argv;
  const std::string environ_text = awf::testing::read_file((tmp_ / "logs" / "environ.txt").string());
  EXPECT_NE(environ_text.find("\nAWF_ALLOWED_MODELS=[\"gpt-5*\"]\n"), std::string::npos) << environ_text;
  EXPECT_NE(environ_text.find("\nHOME=/proxy-home\n"), std::string::npos) << "set over awf's own value";
  EXPECT_EQ(environ_text.find("HOME=" + std::string(std::getenv("HOME") ? std::getenv("HOME") : "-") + "\n"),
            std::string::npos);
}

// Names in proxy_env_unset are taken out of what awf-proxy inherits (the
// Actions token request outside OIDC mode); proxy_env still sets its own.
TEST_F(NativeRuntime, ProxyEnvUnsetRemovesInheritedVariables) {
  ::setenv("AWF_TEST_INHERITED_SECRET", "host-value", 1);
  ::setenv("AWF_TEST_INHERITED_KEPT", "kept-value", 1);
  config_.proxy_env_unset = {"AWF_TEST_INHERITED_SECRET", "AWF_TEST_NOT_SET_AT_ALL"};
  config_.proxy_env = {"AWF_TEST_SET_BY_AWF=1"};
  config_.proxy_logs_dir = (tmp_ / "logs").string();
  shell("true");
  Outcome o = run();
  ::unsetenv("AWF_TEST_INHERITED_SECRET");
  ::unsetenv("AWF_TEST_INHERITED_KEPT");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::string environ_text = awf::testing::read_file((tmp_ / "logs" / "environ.txt").string());
  EXPECT_EQ(environ_text.find("AWF_TEST_INHERITED_SECRET"), std::string::npos) << environ_text;
  EXPECT_NE(environ_text.find("\nAWF_TEST_INHERITED_KEPT=kept-value\n"), std::string::npos) << environ_text;
  EXPECT_NE(environ_text.find("\nAWF_TEST_SET_BY_AWF=1\n"), std::string::npos) << environ_text;
}

TEST_F(NativeRuntime, LogsArePreservedUnderTmpAndTheWorkDirIsRemoved) {
  shell("true");
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::vector<fs::path> kept, work;
  for (const auto& e : fs::directory_iterator(tmp_)) {
    const std::string name = e.path().filename();
    if (name.rfind("squid-logs-", 0) == 0) kept.push_back(e.path());
    if (name.rfind("awf-", 0) == 0) work.push_back(e.path());
  }
  ASSERT_EQ(kept.size(), 1u) << o.err;
  EXPECT_TRUE(work.empty()) << "work directory left behind: " << work.front();
  EXPECT_TRUE(fs::exists(kept[0] / "access.log"));
  EXPECT_NE(o.err.find("[INFO] Squid logs preserved at: " + kept[0].string()), std::string::npos) << o.err;
  struct stat st {};
  ASSERT_EQ(::stat(kept[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0005, 0005);
}

TEST_F(NativeRuntime, LogsThatCannotBePreservedAreAnErrorAndStayInTheWorkDir) {
  shell("exit 0");
  // Between the command's end and the preservation, $TMPDIR stops being a
  // directory: the move cannot happen.
  const fs::path moved = tmp_.string() + "-moved";
  config_.on_finished = [this, moved](int, const std::string&) {
    fs::rename(tmp_, moved);
    std::ofstream(tmp_) << "not a directory\n";
  };
  Outcome o = run();
  fs::remove(tmp_);
  fs::rename(moved, tmp_);  // TearDown removes it
  EXPECT_EQ(o.exit_code, 1) << "a run whose logs are lost must not look successful: " << o.err;
  EXPECT_NE(o.err.find("[ERROR] proxy logs not preserved: "), std::string::npos) << o.err;
  const std::string marker = "the logs remain at ";
  const auto at = o.err.find(marker);
  ASSERT_NE(at, std::string::npos) << o.err;
  std::string where = o.err.substr(at + marker.size(), o.err.find('\n', at) - at - marker.size());
  where.replace(0, tmp_.string().size(), tmp_.string());  // the same place, its parent renamed back
  EXPECT_TRUE(fs::exists(fs::path(where) / "access.log")) << where;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 1");
}

TEST_F(NativeRuntime, CommandGetsAPrivateTmpUnlessTheHostsIsShared) {
  // The stand-in entrypoint ignores --tmp; what matters is what awf asks for.
  shell("true");
  config_.entrypoint_args = {"-c", "echo \"$@\" >&2; " + std::string(kStandInEntrypoint), "awf-entrypoint"};
  config_.tmp_binds = {"/tmp/gh-aw"};
  Outcome o = run();
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.err.find("--tmp " + tmp_.string() + "/awf-"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("/tmp --mount /tmp/gh-aw:/tmp/gh-aw:rw --start-gate 3 --"), std::string::npos) << o.err;
  config_.share_host_tmp = true;
  Outcome shared = run();
  EXPECT_EQ(shared.err.find("--tmp"), std::string::npos) << shared.err;
}

TEST_F(NativeRuntime, FinishHookSeesCompleteLogsBeforeTheExitLine) {
  shell("exit 6");
  config_.on_finished = [](int code, const std::string& log_dir) {
    std::ifstream in(log_dir + "/access.log");
    std::string line;
    std::getline(in, line);
    std::fprintf(stderr, "hook: code %d, log \"%s\"\n", code, line.c_str());
  };
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 6);
  EXPECT_NE(o.err.find("hook: code 6, log \"fake access line\"\n"), std::string::npos) << o.err;
  EXPECT_LT(o.err.find("hook:"), o.err.find("Process exiting with code: 6"));
}

TEST_F(NativeRuntime, AgentTimeoutStopsTheCommandWith124) {
  const std::string marker = unique_marker();
  shell("sleep " + marker);
  config_.agent_timeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 124) << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 124");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(processes_with(marker), 0);
}

TEST_F(NativeRuntime, SigtermGives143AndStopsEverything) {
  const std::string marker = unique_marker();
  shell("sleep " + marker);
  config_.extra_proxy_args = {"--marker=" + marker};
  Outcome o = run([&](pid_t awf) {
    // Both start within moments; a loaded machine gets up to 5 s.
    for (int i = 0; i < 100 && processes_with(marker) < 2; ++i) std::this_thread::sleep_for(50ms);
    EXPECT_GE(processes_with(marker), 2) << "command and proxy should be running";
    ::kill(awf, SIGTERM);
  });
  EXPECT_EQ(o.exit_code, 143) << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 143");
  EXPECT_EQ(processes_with(marker), 0);
}

TEST_F(NativeRuntime, SigintGives130) {
  shell("sleep 30");
  Outcome o = run([&](pid_t awf) {
    std::this_thread::sleep_for(500ms);
    ::kill(awf, SIGINT);
  });
  EXPECT_EQ(o.exit_code, 130) << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 130");
}

TEST_F(NativeRuntime, SigkillOfAwfLeavesNoProcessBehind) {
  const std::string marker = unique_marker();
  shell("sleep " + marker);
  config_.extra_proxy_args = {"--marker=" + marker};
  run([&](pid_t awf) {
    std::this_thread::sleep_for(700ms);
    EXPECT_GE(processes_with(marker), 2);
    ::kill(awf, SIGKILL);
  });
  // PR_SET_PDEATHSIG acts as the parent dies; give the kernel a moment.
  for (int i = 0; i < 50 && processes_with(marker) != 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(processes_with(marker), 0);
}

TEST_F(NativeRuntime, ProxyCrashStopsTheCommandAndFails) {
  const std::string marker = unique_marker();
  shell("sleep " + marker);
  ::setenv("FAKE_PROXY_MODE", "crash", 1);
  Outcome o = run();
  ::unsetenv("FAKE_PROXY_MODE");
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("[ERROR] awf-proxy exited while the command was running (code 4)"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("crashing on purpose"), std::string::npos) << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 1");
  EXPECT_EQ(processes_with(marker), 0);
}

TEST_F(NativeRuntime, ProxyFailingAtStartIsReportedWithItsOutput) {
  shell("echo must-not-run");
  ::setenv("FAKE_PROXY_MODE", "exit-early", 1);
  Outcome o = run();
  ::unsetenv("FAKE_PROXY_MODE");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("awf-proxy exited before it was ready (code 3)"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("failing on purpose"), std::string::npos) << o.err;
}

TEST_F(NativeRuntime, ProxyNeverReadyTimesOut) {
  shell("echo must-not-run");
  config_.proxy_ready_timeout = 300ms;
  ::setenv("FAKE_PROXY_MODE", "never-ready", 1);
  Outcome o = run();
  ::unsetenv("FAKE_PROXY_MODE");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("awf-proxy was not ready within 300 ms"), std::string::npos) << o.err;
}

TEST_F(NativeRuntime, SetupFailureInsideTheNamespaceIsReportedAndNothingRuns) {
  shell("echo must-not-run");
  config_.ports.http_intercept = config_.ports.forward;  // two listeners, one port
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("3128"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("Address already in use"), std::string::npos) << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 1");
}

TEST_F(NativeRuntime, SigtermDuringStartUpGives143AndRunsNothing) {
  shell("echo must-not-run");
  ::setenv("FAKE_PROXY_MODE", "never-ready", 1);
  Outcome o = run([](pid_t awf) {
    std::this_thread::sleep_for(300ms);
    ::kill(awf, SIGTERM);
  });
  ::unsetenv("FAKE_PROXY_MODE");
  EXPECT_EQ(o.exit_code, 143) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 143");
}

// The entrypoint builds the command's view while the proxy starts (it is
// exec'd once the ruleset is in), but the command starts only after the
// proxy is ready.
TEST_F(NativeRuntime, TheEntrypointPreparesWhileTheProxyStartsAndTheCommandWaitsForReady) {
  const std::string prepared = (tmp_ / "prepared-at").string(), ready = (tmp_ / "ready-at").string(),
                    started = (tmp_ / "started-at").string();
  config_.entrypoint_args = {"-c", "date +%s%N > " + prepared + "; " + std::string(kStandInEntrypoint),
                             "awf-entrypoint"};
  shell("date +%s%N > " + started);
  ::setenv("FAKE_PROXY_MODE", "slow-ready", 1);
  ::setenv("FAKE_PROXY_READY_FILE", ready.c_str(), 1);
  Outcome o = run();
  ::unsetenv("FAKE_PROXY_MODE");
  ::unsetenv("FAKE_PROXY_READY_FILE");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto read_ns = [](const std::string& path) {
    std::ifstream in(path);
    long long ns = 0;
    in >> ns;
    return ns;
  };
  const long long prepared_at = read_ns(prepared), ready_at = read_ns(ready), started_at = read_ns(started);
  ASSERT_GT(prepared_at, 0);
  ASSERT_GT(ready_at, 0);
  ASSERT_GT(started_at, 0);
  EXPECT_LT(prepared_at, ready_at) << "the entrypoint waited for the proxy before starting its set-up";
  EXPECT_LT(ready_at, started_at) << "the command started before the proxy was ready";
}

TEST_F(NativeRuntime, MissingProgramsAreNamed) {
  shell("true");
  config_.entrypoint_path = (tmp_ / "no-such-entrypoint").string();
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("cannot run " + config_.entrypoint_path), std::string::npos) << o.err;
}

TEST_F(NativeRuntime, NothingIsLeftBehind) {
  const std::string mounts_before = awf::testing::mounts_but_other_suites();
  const std::string netns_before = awf::testing::named_netns_but_other_suites();
  const std::string marker = unique_marker();
  // The command mounts something inside its mount namespace: private, so it
  // must not show on the host.
  shell("mount -t tmpfs none /mnt && sleep " + marker + " & wait");
  config_.agent_timeout = 500ms;
  config_.extra_proxy_args = {"--marker=" + marker};
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 124) << o.err;
  EXPECT_EQ(processes_with(marker), 0);
  EXPECT_EQ(awf::testing::mounts_but_other_suites(), mounts_before);
  EXPECT_EQ(awf::testing::named_netns_but_other_suites(), netns_before);
  EXPECT_TRUE(fs::is_empty(tmp_) || !fs::exists(tmp_ / "awf-")) << "temp files left";
}

TEST_F(NativeRuntime, UserNamespaceModeRunsTheSameWay) {
  config_.user_namespace = UserNamespaceMode::always;
  const std::string probe = AWF_TEST_PROBE;
  shell("id -u; " + probe + " tcp 127.0.0.5 80; exit 7");
  Outcome o = run();
  EXPECT_EQ(o.exit_code, 7) << o.err;
  EXPECT_EQ(o.out, "0\nconnected: http-intercept 127.0.0.5:80\n") << o.err;
}

TEST_F(NativeRuntime, RootlessRunUsesAUserNamespaceMappingTheCallersIds) {
  // awf started by an ordinary user: the same sandbox, with a user namespace
  // mapping that user's IDs, and the capabilities to set it up kept for the
  // entrypoint (ambient), none of them effective on the host.
  constexpr uid_t kNobody = 65534;
  fs::permissions(tmp_, fs::perms::all);
  const std::string probe = AWF_TEST_PROBE;
  shell("id -u; id -g; echo $AWF_USER_UID; " + probe + " tcp 127.0.0.5 80; " + probe + " tcp 127.0.0.1 9999; exit 3");
  Outcome o = run({}, kNobody);
  if (o.err.find("user namespace") != std::string::npos && o.exit_code == 1) {
    if (::awf::testing::in_ci()) FAIL() << "CI=true and unprivileged user namespaces are unavailable: " << o.err;
    GTEST_SKIP() << o.err;
  }
  ASSERT_NE(o.exit_code, 99) << o.err;
  EXPECT_EQ(o.exit_code, 3) << o.err;
  EXPECT_EQ(o.out, "65534\n65534\n65534\nconnected: http-intercept 127.0.0.5:80\nrefused\n") << o.err;
  EXPECT_EQ(o.last_err_line(), "Process exiting with code: 3");
}

}  // namespace
}  // namespace awf::runtime
