// `awf attach --pid PID`: the real awf, awf-proxy and curl, a program that
// `unshare --net` put in a network namespace with loopback only (what
// `ip netns exec` and every sandbox tool do), origins on 127.0.93.x whose
// names come from a loopback DNS stub. The program inside runs the checks
// the test hands it, one script at a time, so that each one runs while awf
// attach is in the state the test wants.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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
constexpr const char* kDns = "127.0.93.53";
constexpr const char* kAllowedIp = "127.0.93.10";
constexpr const char* kDeniedIp = "127.0.93.11";

// A program in a network namespace of its own (and a mount namespace, for
// its own resolv.conf and hosts), which runs the scripts the test gives it:
// script N is written to checkN.sh, goN is created, the answer appears as
// outN. The namespace is held open by the test (`netns_fd`) so that it can
// still be inspected after the program has exited. `setup` runs inside
// first (a sysctl of the namespace's own, say). lo is down, as unshare
// leaves it.
class Sandbox {
 public:
  static std::unique_ptr<Sandbox> start(const std::string& setup = "") {
    auto s = std::unique_ptr<Sandbox>(new Sandbox);
    const std::string d = s->dir_.path();
    ::chmod(d.c_str(), 0755);
    awf::testing::write_file(s->dir_.file("resolv.conf"), "nameserver 127.0.0.1\n");
    awf::testing::write_file(s->dir_.file("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    // Bounded: at most 8 scripts, and the whole program at most 120 s.
    const std::string script =
        "mount --bind " + d + "/resolv.conf /etc/resolv.conf && mount --bind " + d + "/hosts /etc/hosts || exit 3\n" +
        setup + "\n"
        "touch " + d + "/ready\n"
        "i=0\n"
        "while [ $i -lt 8 ]; do\n"
        "  i=$((i+1))\n"
        "  while [ ! -e " + d + "/go$i ]; do [ -e " + d + "/stop ] && exit 0; sleep 0.02; done\n"
        "  sh " + d + "/check$i.sh > " + d + "/out$i.tmp 2>&1; mv " + d + "/out$i.tmp " + d + "/out$i\n"
        "done\n";
    s->process_ = Process::spawn({"timeout", "120", "unshare", "--net", "--mount", "--propagation", "private", "--",
                                  "sh", "-c", script});
    for (int i = 0; i < 500 && !fs::exists(s->dir_.file("ready")); ++i) std::this_thread::sleep_for(10ms);
    if (!fs::exists(s->dir_.file("ready"))) return nullptr;
    // timeout(1) forks: the namespace is its child's.
    s->pid_ = child_of(s->process_->pid());
    if (s->pid_ <= 0) return nullptr;
    s->netns_fd_ = ::open(("/proc/" + std::to_string(s->pid_) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    return s->netns_fd_ >= 0 ? std::move(s) : nullptr;
  }
  ~Sandbox() {
    stop();
    if (netns_fd_ >= 0) ::close(netns_fd_);
  }

  pid_t pid() const { return pid_; }
  // Runs `script` inside and returns its output (stdout and stderr).
  std::string run(const std::string& script) {
    ++round_;
    const std::string n = std::to_string(round_);
    awf::testing::write_file(dir_.file("check" + n + ".sh"), script);
    awf::testing::write_file(dir_.file("go" + n), "");
    for (int i = 0; i < 3000 && !fs::exists(dir_.file("out" + n)); ++i) std::this_thread::sleep_for(10ms);
    return awf::testing::read_file(dir_.file("out" + n));
  }
  void stop() {
    if (!process_) return;
    awf::testing::write_file(dir_.file("stop"), "");
    if (!process_->wait(5s)) process_->signal(SIGKILL);
    process_->wait(5s);
  }
  // A command run in the (possibly empty by now) namespace, from outside.
  awf::testing::RunResult in_namespace(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"nsenter", "--net=/proc/" + std::to_string(::getpid()) + "/fd/" +
                                              std::to_string(netns_fd_), "--"});
    return awf::testing::run(argv, 10s);
  }

 private:
  Sandbox() = default;
  static pid_t child_of(pid_t parent) {
    for (int i = 0; i < 200; ++i) {
      const std::string text =
          awf::testing::read_file("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
      if (!text.empty()) return static_cast<pid_t>(std::stol(text));
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  TempDir dir_;
  std::unique_ptr<Process> process_;
  pid_t pid_ = -1;
  int netns_fd_ = -1;
  int round_ = 0;
};

// curl inside the sandbox printing only its status code (000: no answer);
// -k because the throwaway origin certificate names *.test only.
std::string curl(const std::string& url, const std::string& extra = "") {
  return "curl -sk -o /dev/null -w '%{http_code}' --max-time 10 " + extra + " " + url + "; echo\n";
}

const std::string kResolveDenied = std::string("--noproxy '*' --resolve denied.test:80:") + kDeniedIp;

class AttachTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    netns_error_ = awf::testing::enter_private_network();
    if (!netns_error_.empty()) return;
    certs_ = std::make_unique<TempDir>();
    state_ = std::make_unique<TempDir>();
    etc_ = std::make_unique<TempDir>();
    awf::testing::write_file(etc_->file("hosts"), "127.0.0.1 localhost\n");
    dns_ = DnsStub::start(kDns, {{"allowed.test", {kAllowedIp}}, {"denied.test", {kDeniedIp}}}, 53);
    allowed_http_ = Origin::start({.host = kAllowedIp, .kind = Origin::Kind::http, .cert_dir = "", .port = 80});
    allowed_https_ =
        Origin::start({.host = kAllowedIp, .kind = Origin::Kind::https, .cert_dir = certs_->path(), .port = 443});
    denied_http_ = Origin::start({.host = kDeniedIp, .kind = Origin::Kind::http, .cert_dir = "", .port = 80});
  }
  static void TearDownTestSuite() {
    allowed_http_.reset();
    allowed_https_.reset();
    denied_http_.reset();
    dns_.reset();
    certs_.reset();
    state_.reset();
    etc_.reset();
  }
  void SetUp() override {
    AWF_REQUIRE_FACILITY(geteuid() == 0, "awf attach needs root (setns, nftables)");
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for the suite's origins: " + netns_error_);
    AWF_REQUIRE_FACILITY(fs::exists(kAwf), std::string("awf binary missing at ") + kAwf);
    AWF_REQUIRE_FACILITY(dns_ && allowed_http_ && allowed_https_ && denied_http_,
                         "could not start the loopback DNS stub and origins on 127.0.93.x");
    for (const char* tool : {"/usr/bin/curl", "/usr/bin/dig", "/usr/bin/unshare", "/usr/bin/nsenter"}) {
      AWF_REQUIRE_FACILITY(fs::exists(tool), std::string(tool) + " is not installed");
    }
  }

  std::unique_ptr<Process> attach(pid_t pid, std::vector<std::string> flags = {"--allow-domains", "allowed.test"}) {
    std::vector<std::string> argv = {kAwf, "attach", "--pid", std::to_string(pid), "--dns-servers", kDns,
                                     "--allow-private-ranges", "127.0.93.0/24", "--hosts-file", etc_->file("hosts"),
                                     "--proxy-logs-dir", logs_.path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return Process::spawn(argv, {"AWF_STATE_DIR=" + state_->path()});
  }
  // Waits for the ready line; false (with the output in the failure) if
  // awf attach ends or says nothing in time.
  static bool ready(Process& p) {
    if (!p.wait_for_stderr("Attached to PID", 20s)) return false;
    // awf attach prints the proxy variables on stdout before that line, but
    // stdout comes through a pipe of its own and may be read a moment later.
    for (int i = 0; i < 250 && p.stdout_text().find("HTTPS_PROXY=") == std::string::npos; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  std::string access_log() const { return awf::testing::read_file(logs_.file("access.log")); }

  static std::unique_ptr<TempDir> certs_, state_, etc_;
  static inline std::string netns_error_;
  static std::unique_ptr<DnsStub> dns_;
  static std::unique_ptr<Origin> allowed_http_, allowed_https_, denied_http_;
  TempDir logs_;
};

std::unique_ptr<TempDir> AttachTest::certs_, AttachTest::state_, AttachTest::etc_;
std::unique_ptr<DnsStub> AttachTest::dns_;
std::unique_ptr<Origin> AttachTest::allowed_http_, AttachTest::allowed_https_, AttachTest::denied_http_;

TEST_F(AttachTest, TheNamespaceGetsOnlyWhatThePolicyAllowsAndIsLeftAsItWasFound) {
  auto sandbox = Sandbox::start();
  ASSERT_TRUE(sandbox) << "could not start unshare --net";
  // Before: loopback only, nothing reachable, no rules.
  EXPECT_EQ(sandbox->run(curl("http://allowed.test/")), "000\n");

  auto awf = attach(sandbox->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  EXPECT_EQ(awf->stdout_text(), "HTTP_PROXY=http://127.0.0.1:3128\nHTTPS_PROXY=http://127.0.0.1:3128\n");

  const std::string proxy = "-x http://127.0.0.1:3128";
  const std::string out = sandbox->run(
      "echo forward-http $(" + curl("http://allowed.test/", proxy) + ")\n" +
      "echo forward-https $(" + curl("https://allowed.test/", proxy) + ")\n" +
      "echo transparent-https $(" + curl("https://allowed.test/", "--noproxy '*'") + ")\n" +
      "echo transparent-http $(" + curl("http://allowed.test/", "--noproxy '*'") + ")\n" +
      "echo denied-forward $(" + curl("http://denied.test/", proxy) + ")\n" +
      // Its name does not resolve here (below); with the address given, the
      // Host header decides.
      "echo denied-transparent $(" + curl("http://denied.test/", kResolveDenied) + ")\n" +
      // An address instead of a name: the Host header is the IP literal,
      // which no rule allows.
      "echo raw-ip $(" + curl(std::string("http://") + kAllowedIp + "/", "--noproxy '*'") + ")\n" +
      // Any other port, and any other address, is refused outright.
      "echo other-port $(" + curl(std::string("http://") + kAllowedIp + ":8080/", "--noproxy '*'") + ")\n" +
      "echo dns-allowed $(dig +short +time=3 +tries=1 allowed.test)\n" +
      "echo dns-denied $(dig +time=3 +tries=1 denied.test | grep -o 'status: [A-Z]*')\n" +
      // A resolver of its own choosing is the DNS listener all the same.
      "echo dns-elsewhere $(dig +time=3 +tries=1 @" + kDns + " denied.test | grep -o 'status: [A-Z]*')\n");
  EXPECT_NE(out.find("forward-http 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("forward-https 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("transparent-https 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("transparent-http 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("denied-forward 403\n"), std::string::npos) << out;
  EXPECT_NE(out.find("denied-transparent 403\n"), std::string::npos) << out;
  EXPECT_NE(out.find("raw-ip 403\n"), std::string::npos) << out;
  EXPECT_NE(out.find("other-port 000\n"), std::string::npos) << out;
  EXPECT_NE(out.find(std::string("dns-allowed ") + kAllowedIp + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("dns-denied status: REFUSED\n"), std::string::npos) << out;
  EXPECT_NE(out.find("dns-elsewhere status: REFUSED\n"), std::string::npos) << out;
  // The origins saw the allowed requests only.
  EXPECT_EQ(denied_http_->requests(), 0u);

  // While attached, the namespace holds the rules and the listeners.
  auto tables = sandbox->in_namespace({"nft", "list", "tables"});
  EXPECT_NE(tables.out.find("table inet awf"), std::string::npos) << tables.out << tables.err;

  sandbox->stop();
  auto code = awf->wait(20s);
  ASSERT_TRUE(code.has_value()) << "awf attach did not end with the process";
  EXPECT_EQ(*code, 0) << awf->stderr_text();
  const std::string err = awf->stderr_text();
  EXPECT_NE(err.find("exited; detaching"), std::string::npos) << err;
  EXPECT_NE(err.find("Blocked: denied.test"), std::string::npos) << err;
  EXPECT_NE(err.find("[INFO] awf attach: "), std::string::npos) << err;
  EXPECT_NE(err.find("Process exiting with code: 0"), std::string::npos) << err;

  const std::string log = access_log();
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE http://denied.test/"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP_TUNNEL:HIER_DIRECT allowed.test:443"), std::string::npos) << log;
  EXPECT_NE(log.find("dns://denied.test/"), std::string::npos) << log;

  // After: the namespace (held open by the test) has no rules, no routes and
  // no listeners of ours, and no awf-proxy serves it.
  auto after = sandbox->in_namespace({"nft", "list", "tables"});
  EXPECT_EQ(after.out.find("awf"), std::string::npos) << after.out;
  auto routes = sandbox->in_namespace({"ip", "route", "show", "default"});
  EXPECT_EQ(routes.out, "") << routes.out;
  auto sockets = sandbox->in_namespace({"ss", "-Htlnu"});
  EXPECT_EQ(sockets.out, "") << sockets.out;
  auto proxies = awf::testing::run({"pgrep", "-f", logs_.path()}, 5s);
  EXPECT_EQ(proxies.out, "") << "an awf-proxy of this attach still runs";
}

TEST_F(AttachTest, SigtermDetachesAndTheProgramIsBackToNoNetworkAtAll) {
  auto sandbox = Sandbox::start();
  ASSERT_TRUE(sandbox) << "could not start unshare --net";
  auto awf = attach(sandbox->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  EXPECT_EQ(sandbox->run(curl("http://allowed.test/", "-x http://127.0.0.1:3128")), "200\n");

  awf->signal(SIGTERM);
  auto code = awf->wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 143) << awf->stderr_text();
  EXPECT_NE(awf->stderr_text().find("Received SIGTERM; detaching"), std::string::npos) << awf->stderr_text();
  // The program still runs; the proxy, the rules and the routes are gone.
  EXPECT_EQ(sandbox->run(curl("http://allowed.test/", "-x http://127.0.0.1:3128") +
                         curl(std::string("http://") + kAllowedIp + "/", "--noproxy '*'")),
            "000\n000\n");
  EXPECT_EQ(sandbox->in_namespace({"nft", "list", "tables"}).out, "");
  EXPECT_EQ(sandbox->in_namespace({"ip", "route", "show", "default"}).out, "");
}

TEST_F(AttachTest, ASecondAttachToTheSameNamespaceIsRefusedAndTheFirstKeepsServing) {
  auto sandbox = Sandbox::start();
  ASSERT_TRUE(sandbox) << "could not start unshare --net";
  auto first = attach(sandbox->pid());
  ASSERT_TRUE(ready(*first)) << first->stderr_text();
  const std::string ruleset_before = sandbox->in_namespace({"nft", "list", "ruleset"}).out;

  auto second = attach(sandbox->pid(), {"--allow-domains", "denied.test"});
  auto code = second->wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  const std::string err = second->stderr_text();
  EXPECT_NE(err.find("cannot open the proxy's listeners there"), std::string::npos) << err;
  EXPECT_NE(err.find("127.0.0.1:3128"), std::string::npos) << err;
  EXPECT_NE(err.find("Nothing was changed besides setting lo up."), std::string::npos) << err;
  EXPECT_EQ(second->stdout_text(), "");

  // The first one's rules are untouched and it still serves, with its policy.
  EXPECT_EQ(sandbox->in_namespace({"nft", "list", "ruleset"}).out, ruleset_before);
  EXPECT_EQ(sandbox->run(curl("http://allowed.test/", "--noproxy '*'") +
                         curl("http://denied.test/", kResolveDenied)),
            "200\n403\n");
  EXPECT_TRUE(first->running());
  // Stopped the way a person stops it, so that it detaches and removes its
  // work directory (killed, it could do neither).
  first->signal(SIGTERM);
  EXPECT_EQ(first->wait(20s), std::optional<int>(143)) << first->stderr_text();
}

TEST_F(AttachTest, AProcessInTheHostNamespaceIsRefusedAndNothingChanges) {
  const std::string ruleset_before = awf::testing::run({"nft", "list", "ruleset"}).out;
  // This test process shares awf's namespace: the "host" as awf sees it.
  auto awf = attach(::getpid());
  auto code = awf->wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  const std::string err = awf->stderr_text();
  EXPECT_NE(err.find("runs in the host's network namespace"), std::string::npos) << err;
  EXPECT_NE(err.find("Nothing was changed."), std::string::npos) << err;
  EXPECT_EQ(awf->stdout_text(), "");
  EXPECT_EQ(awf::testing::run({"nft", "list", "ruleset"}).out, ruleset_before);
  EXPECT_FALSE(awf::testing::wait_for_port("127.0.0.1", 3128, 200ms));
}

TEST_F(AttachTest, WithoutRootItStopsAtOnceAndChangesNothing) {
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/setpriv"), "/usr/bin/setpriv (util-linux) is not installed");
  auto sandbox = Sandbox::start();
  ASSERT_TRUE(sandbox) << "could not start unshare --net";
  const std::string ruleset_before = sandbox->in_namespace({"nft", "list", "ruleset"}).out;
  // A copy the unprivileged user can run whatever the checkout's permissions.
  TempDir bin;
  ::chmod(bin.path().c_str(), 0755);
  fs::copy_file(kAwf, bin.file("awf"));
  ::chmod(bin.file("awf").c_str(), 0755);
  auto awf = Process::spawn({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin.file("awf"),
                             "attach", "--pid", std::to_string(sandbox->pid()), "--allow-domains", "allowed.test",
                             "--dns-servers", kDns},
                            {"HOME=" + bin.path()});
  auto code = awf->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  const std::string err = awf->stderr_text();
  EXPECT_NE(err.find("awf attach: needs root (CAP_SYS_ADMIN to enter the namespace and CAP_NET_ADMIN to put "
                     "rules there); run it with sudo"),
            std::string::npos)
      << err;
  EXPECT_EQ(awf->stdout_text(), "");
  EXPECT_EQ(sandbox->in_namespace({"nft", "list", "ruleset"}).out, ruleset_before);
  EXPECT_EQ(sandbox->in_namespace({"ss", "-Htlnu"}).out, "");
}

TEST_F(AttachTest, Ipv6IsServedOnLoopbackThoughLoWasDownAndOtherIpv6AddressesAreRefused) {
  auto sandbox = Sandbox::start();
  ASSERT_TRUE(sandbox) << "could not start unshare --net";
  // unshare leaves lo down, and ::1 comes only with lo up.
  const std::string link = sandbox->in_namespace({"ip", "-o", "link", "show", "lo"}).out;
  ASSERT_EQ(link.find("LOWER_UP"), std::string::npos) << link;
  AWF_REQUIRE_FACILITY(fs::exists("/proc/net/if_inet6"), "IPv6 in this kernel");
  auto awf = attach(sandbox->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  EXPECT_EQ(awf->stderr_text().find("IPv6 is not served"), std::string::npos) << awf->stderr_text();
  const std::string sockets = sandbox->in_namespace({"ss", "-Htln"}).out;
  EXPECT_NE(sockets.find("[::1]:3128 "), std::string::npos) << sockets;

  const std::string out = sandbox->run(
      "echo dns-allowed $(dig +short +time=3 +tries=1 @::1 allowed.test)\n"
      "echo dns-denied $(dig +time=3 +tries=1 @::1 denied.test | grep -o 'status: [A-Z]*')\n"
      "echo forward $(" + curl("http://allowed.test/", "-x 'http://[::1]:3128'") + ")\n" +
      "echo forward-https $(" + curl("https://allowed.test/", "-x 'http://[::1]:3128'") + ")\n" +
      // An IPv6 address other than ::1 is redirected like any other: the
      // IP literal in the Host header is refused, other ports outright.
      "echo v6-http $(" + curl("'http://[2001:db8::1]/'", "-g --noproxy '*'") + ")\n" +
      "echo v6-other-port $(" + curl("'http://[2001:db8::1]:8080/'", "-g --noproxy '*'") + ")\n" +
      "echo v6-dns $(dig +time=3 +tries=1 @2001:db8::1 denied.test | grep -o 'status: [A-Z]*')\n");
  EXPECT_NE(out.find(std::string("dns-allowed ") + kAllowedIp + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("dns-denied status: REFUSED\n"), std::string::npos) << out;
  EXPECT_NE(out.find("forward 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("forward-https 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("v6-http 403\n"), std::string::npos) << out;
  EXPECT_NE(out.find("v6-other-port 000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("v6-dns status: REFUSED\n"), std::string::npos) << out;

  sandbox->stop();
  ASSERT_EQ(awf->wait(20s), std::optional<int>(0)) << awf->stderr_text();
  const std::string log = access_log();
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE http://[2001:db8::1]/"), std::string::npos) << log;
  // Nothing to 2001:db8::/32 was let through.
  for (std::size_t at = 0; (at = log.find("2001:db8", at)) != std::string::npos; ++at) {
    const std::size_t begin = log.rfind('\n', at) + 1;
    const std::string line = log.substr(begin, log.find('\n', at) - begin);
    EXPECT_NE(line.find("TCP_DENIED"), std::string::npos) << line;
  }
  // The report names the refused address as an address, not as a domain
  // that --allow-domains could let through.
  const std::string err = awf->stderr_text();
  const auto addresses = err.find("[WARN] IP addresses refused (");
  ASSERT_NE(addresses, std::string::npos) << err;
  EXPECT_NE(err.find("\n[WARN]   - [2001:db8::1]\n", addresses), std::string::npos) << err;
  EXPECT_EQ(err.find("Blocked: [2001:db8::1]"), std::string::npos) << err;
  EXPECT_EQ(sandbox->in_namespace({"ip", "-6", "route", "show", "default"}).out, "");
}

TEST_F(AttachTest, WhereIpv6IsDisabledItIsRefusedAndSaidToBeNotServed) {
  auto sandbox = Sandbox::start("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || exit 4");
  ASSERT_TRUE(sandbox) << "could not start unshare --net with IPv6 disabled in it";
  auto awf = attach(sandbox->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  EXPECT_NE(awf->stderr_text().find("IPv6 is not served in PID " + std::to_string(sandbox->pid())),
            std::string::npos)
      << awf->stderr_text();
  // No listener on ::1, no IPv6 route, no IPv6 redirect: every IPv6 packet
  // is rejected instead, were IPv6 switched on again.
  EXPECT_EQ(sandbox->in_namespace({"ss", "-Htln"}).out.find("[::1]"), std::string::npos);
  EXPECT_EQ(sandbox->in_namespace({"ip", "-6", "route", "show", "default"}).out, "");
  const std::string rules = sandbox->in_namespace({"nft", "list", "table", "inet", "awf"}).out;
  EXPECT_NE(rules.find("meta nfproto ipv6 return"), std::string::npos) << rules;
  EXPECT_NE(rules.find("meta nfproto ipv6 reject with icmpx admin-prohibited"), std::string::npos) << rules;
  // IPv4 is served as ever.
  EXPECT_EQ(sandbox->run(curl("http://allowed.test/", "--noproxy '*'") + curl("http://denied.test/", kResolveDenied)),
            "200\n403\n");
  // IPv6 switched on again (as a program with the right could): still no
  // IPv6 packet leaves, not even to ::1, while IPv4 on loopback answers.
  ASSERT_EQ(sandbox->in_namespace({"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"}).exit_code, 0);
  sandbox->in_namespace({"sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0"});
  const std::string out = sandbox->run(
      "python3 -m http.server --bind ::1 8081 >/dev/null 2>&1 & six=$!\n"
      "python3 -m http.server --bind 127.0.0.1 8082 >/dev/null 2>&1 & four=$!\n"
      "for i in $(seq 100); do [ \"$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8082/)\" = 200 ] && "
      "break; sleep 0.05; done\n"
      "for i in $(seq 100); do ss -Htln | grep -q '\\[::1\\]:8081 ' && break; sleep 0.05; done\n"
      "echo v6-listening $(ss -Htln | grep -c '\\[::1\\]:8081 ')\n"
      "echo v4-local $(" + curl("http://127.0.0.1:8082/") + ")\n" +
      "echo v6-local $(" + curl("'http://[::1]:8081/'", "-g --max-time 3") + ")\n" +
      "kill $six $four\n");
  EXPECT_NE(out.find("v6-listening 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("v4-local 200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("v6-local 000\n"), std::string::npos) << out;
  sandbox->stop();
  EXPECT_EQ(awf->wait(20s), std::optional<int>(0)) << awf->stderr_text();
  EXPECT_EQ(sandbox->in_namespace({"nft", "list", "tables"}).out, "");
}

// A process in the namespace other than --pid holds CAP_NET_ADMIN: the
// warning names it, and not --pid, which has none.
TEST_F(AttachTest, AnyProcessInTheNamespaceHoldingNetAdminIsNamed) {
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/setpriv"), "/usr/bin/setpriv (util-linux) is not installed");
  TempDir dir;
  auto program = Process::spawn({"unshare", "--net", "sh", "-c",
                                 "sleep 60 & echo $! > " + dir.file("child") +
                                     "; exec setpriv --bounding-set -net_admin sleep 60"});
  for (int i = 0; i < 500 && awf::testing::read_file(dir.file("child")).empty(); ++i) std::this_thread::sleep_for(10ms);
  const std::string child = awf::testing::read_file(dir.file("child"));
  ASSERT_FALSE(child.empty()) << program->stderr_text();
  const std::string child_pid = child.substr(0, child.find('\n'));
  // Until setpriv has exec'd sleep, --pid still runs sh with every capability.
  for (int i = 0; i < 500 && awf::testing::read_file("/proc/" + std::to_string(program->pid()) + "/comm") != "sleep\n";
       ++i) {
    std::this_thread::sleep_for(10ms);
  }

  auto awf = attach(program->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  const std::string err = awf->stderr_text();
  EXPECT_NE(err.find("CAP_NET_ADMIN is held in the network namespace of PID " + std::to_string(program->pid()) +
                     " (net:["),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("]) by PID " + child_pid + " (sleep): with it a process can take awf's rules out."),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("PID " + std::to_string(program->pid()) + " (sleep)"), std::string::npos) << err;
  EXPECT_NE(err.find("Drop the capability from the sandboxed program"), std::string::npos) << err;
  EXPECT_EQ(awf->stderr_count("CAP_NET_ADMIN"), 1u) << err;
  awf->signal(SIGTERM);
  EXPECT_EQ(awf->wait(20s), std::optional<int>(143)) << awf->stderr_text();
  ::kill(std::stoi(child_pid), SIGKILL);
}

TEST_F(AttachTest, NoWarningWhenNoProcessInTheNamespaceHoldsNetAdmin) {
  AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/setpriv"), "/usr/bin/setpriv (util-linux) is not installed");
  auto program = Process::spawn({"unshare", "--net", "setpriv", "--bounding-set", "-net_admin", "sleep", "60"});
  for (int i = 0; i < 500 && awf::testing::read_file("/proc/" + std::to_string(program->pid()) + "/comm") != "sleep\n";
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto awf = attach(program->pid());
  ASSERT_TRUE(ready(*awf)) << awf->stderr_text();
  EXPECT_EQ(awf->stderr_text().find("CAP_NET_ADMIN"), std::string::npos) << awf->stderr_text();
  awf->signal(SIGTERM);
  EXPECT_EQ(awf->wait(20s), std::optional<int>(143)) << awf->stderr_text();
}

TEST_F(AttachTest, BadPidsAndFlagsThatConcernACommandAreNamed) {
  auto gone = attach(999'999'999 / 1000);  // 999999: above any pid_max this machine uses by default
  auto code = gone->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(gone->stderr_text().find("there is no process with PID 999999"), std::string::npos)
      << gone->stderr_text();

  auto mount = attach(::getpid(), {"--mount", "/tmp:/tmp"});
  ASSERT_TRUE(mount->wait(10s).has_value());
  EXPECT_NE(mount->stderr_text().find("awf attach does not take --mount"), std::string::npos)
      << mount->stderr_text();

  auto command = Process::spawn({kAwf, "attach", "--pid", "1", "--", "true"});
  ASSERT_TRUE(command->wait(10s).has_value());
  EXPECT_NE(command->stderr_text().find("awf attach starts no command"), std::string::npos)
      << command->stderr_text();

  auto negative = Process::spawn({kAwf, "attach", "--pid", "-5"});
  ASSERT_TRUE(negative->wait(10s).has_value());
  EXPECT_NE(negative->stderr_text().find("-5"), std::string::npos) << negative->stderr_text();
}

}  // namespace
