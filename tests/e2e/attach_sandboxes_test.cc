// `awf attach --pid PID` behind the real sandbox tools: bubblewrap
// --unshare-net, firejail --net=none, podman --network none (a root
// directory made here, no image) and a plain `ip netns` namespace, each
// started without network by the sandbox-tool support library, with its
// own hosts file and a resolv.conf naming 127.0.0.1, and with the program
// left without CAP_NET_ADMIN. The real awf and awf-proxy serve the sandbox's namespace
// from outside; origins on 127.0.94.x get their names from a loopback DNS
// stub. The script in the sandbox waits until awf attach is ready, takes
// the proxy variables awf attach printed, and runs every check at once;
// the test then reads its answers, awf attach's summary and the access log,
// and looks for anything of awf left in the namespace it keeps open.
// docs/sandboxes.md shows the same commands for people ("With awf attach").
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
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
#include "awf/testing/sandboxes.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using awf::testing::DnsStub;
using awf::testing::Origin;
using awf::testing::Process;
using awf::testing::Sandbox;
using awf::testing::SandboxKind;
using awf::testing::TempDir;

namespace {

constexpr const char* kAwf = AWF_BIN_DIR "/awf";
// Addresses of this suite only (it runs in a network namespace of its own
// all the same, see SetUpTestSuite).
constexpr const char* kDns = "127.0.94.53";
constexpr const char* kAllowedIp = "127.0.94.10";
constexpr const char* kDeniedIp = "127.0.94.11";

// A network namespace kept open by the test, so that it can still be looked
// into once the sandbox has ended (and its inode is not reused meanwhile).
class HeldNetns {
 public:
  explicit HeldNetns(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~HeldNetns() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldNetns(const HeldNetns&) = delete;
  HeldNetns& operator=(const HeldNetns&) = delete;
  bool ok() const { return fd_ >= 0; }

  // A command run in the namespace, from outside (stdout and stderr).
  std::string run(std::vector<std::string> argv) const {
    argv.insert(argv.begin(),
                {"nsenter", "--net=/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_), "--"});
    const awf::testing::RunResult r = awf::testing::run(argv, 10s);
    return r.out + r.err;
  }

 private:
  int fd_;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

// The script the sandbox runs once released (docs/sandboxes.md shows it):
// the proxy variables from the file the test writes (what awf attach printed
// on stdout), then one line per check. status() prints curl's status code
// (000: no answer; -k because the throwaway origin certificate names *.test
// only); via() adds the address curl connected to, which is the forward
// listener when curl used the proxy variables.
std::string checks(const std::string& share) {
  const std::string allowed_ip = kAllowedIp, denied_ip = kDeniedIp, dns = kDns;
  return "set -a; . " + share + "/proxy.env; set +a\n"
         "status() { curl -sk -o /dev/null -w '%{http_code}' --max-time 10 \"$@\"; }\n"
         "via() { curl -sk -o /dev/null -w '%{http_code} via %{remote_ip}:%{remote_port}' --max-time 10 \"$@\"; }\n"
         "dns() { dig +time=3 +tries=1 \"$@\" | grep -o 'status: [A-Z]*'; }\n"
         "echo \"vars $HTTP_PROXY $HTTPS_PROXY\"\n"
         // First: the program, without CAP_NET_ADMIN, cannot take awf's
         // rules out (every check below runs under them).
         "echo \"caps $(grep CapEff /proc/self/status | cut -f 2)\"\n"
         "nft delete table inet awf 2>/dev/null; echo \"nft-delete $?\"\n"
         // curl takes https through HTTPS_PROXY (a CONNECT tunnel) and plain
         // http through http_proxy, in lower case only.
         "echo \"proxy-https $(via https://allowed.test/)\"\n"
         "echo \"proxy-http $(http_proxy=$HTTP_PROXY via http://allowed.test/)\"\n"
         // No proxy variables: the name resolves through awf's DNS listener
         // and the connection is redirected to its interception listeners.
         "echo \"transparent-https $(via --noproxy '*' https://allowed.test/)\"\n"
         "echo \"transparent-http $(via --noproxy '*' http://allowed.test/)\"\n"
         "echo \"denied-proxy $(http_proxy=$HTTP_PROXY status http://denied.test/)\"\n"
         "echo \"denied-connect $(curl -sk -o /dev/null -w '%{http_connect}' --max-time 10 https://denied.test/)\"\n"
         // Its name does not resolve here (below); with the address given,
         // the Host header decides.
         "echo \"denied-transparent $(status --noproxy '*' --resolve denied.test:80:" + denied_ip +
         " http://denied.test/)\"\n"
         // An origin's address instead of a name: no rule allows an IP
         // literal; any other port on it is refused outright.
         "echo \"raw-ip $(status --noproxy '*' http://" + allowed_ip + "/)\"\n"
         "echo \"raw-ip-proxy $(http_proxy=$HTTP_PROXY status http://" + allowed_ip + "/)\"\n"
         "echo \"raw-ip-other-port $(status --noproxy '*' http://" + allowed_ip + ":8080/)\"\n"
         "echo \"dns-allowed $(dig +short +time=3 +tries=1 allowed.test)\"\n"
         "echo \"dns-denied $(dns denied.test)\"\n"
         "echo \"dns-elsewhere $(dns @" + dns + " denied.test)\"\n"
         // IPv6, where the sandbox has ::1 (the kernel may have IPv6 off):
         // the DNS listener on ::1, and an IPv6 address other than ::1
         // (documentation prefix) redirected like any other.
         "if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then\n"
         "  echo \"ipv6 $(dig +short +time=3 +tries=1 @::1 allowed.test) $(dns @::1 denied.test)"
         " $(status -g --noproxy '*' 'http://[2001:db8::1]/')\"\n"
         "else\n"
         "  echo 'ipv6 none'\n"
         "fi\n";
}

// The flags that leave the program in the sandbox without CAP_NET_ADMIN,
// with which it could delete awf's table: bubblewrap, firejail and
// `ip netns exec` started by root keep every capability otherwise (for the
// last, setpriv empties the bounding set, so that root's exec gets none);
// podman drops it by default.
std::vector<std::string> cap_drop_flags(SandboxKind kind) {
  switch (kind) {
    case SandboxKind::bubblewrap: return {"--cap-drop", "ALL"};
    case SandboxKind::firejail: return {"--caps.drop=all"};
    case SandboxKind::podman: return {};
    case SandboxKind::ip_netns: return {"setpriv", "--bounding-set", "-all"};
  }
  return {};
}

// CAP_NET_ADMIN (bit 12) in a CapEff mask as /proc shows it (hex).
bool has_net_admin(const std::string& cap_eff) {
  return !cap_eff.empty() && ((std::stoull(cap_eff, nullptr, 16) >> 12) & 1U) != 0;
}

class AttachSandboxTest : public ::testing::TestWithParam<SandboxKind> {
 protected:
  // The suite's process moves into a network namespace of its own first,
  // so that the origins and the DNS stub can take ports 80, 443 and 53
  // without meeting the machine's listeners. awf attach and the sandbox
  // tools start from there; each sandbox gets a namespace of its own.
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
    AWF_REQUIRE_FACILITY(geteuid() == 0, "awf attach needs root (setns, nftables) and so do the sandboxes here");
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for the suite's origins: " + netns_error_);
    AWF_REQUIRE_FACILITY(fs::exists(kAwf), std::string("awf binary missing at ") + kAwf);
    AWF_REQUIRE_FACILITY(dns_ && allowed_http_ && allowed_https_ && denied_http_,
                         "could not start the loopback DNS stub and origins on 127.0.94.x");
    const std::string missing = awf::testing::sandbox_missing(GetParam());
    AWF_REQUIRE_FACILITY(missing.empty(), missing);
    for (const char* tool : {"/usr/bin/curl", "/usr/bin/dig", "/usr/bin/nsenter", "/usr/bin/setpriv"}) {
      AWF_REQUIRE_FACILITY(fs::exists(tool), std::string(tool) + " is not installed");
    }
  }

  // As attach_test.cc: the stub is the only resolver awf-proxy asks, and the
  // hosts file awf-proxy reads names localhost only.
  std::unique_ptr<Process> attach(int pid) {
    return Process::spawn({kAwf, "attach", "--pid", std::to_string(pid), "--allow-domains", "allowed.test",
                           "--dns-servers", kDns, "--allow-private-ranges", "127.0.94.0/24", "--hosts-file",
                           etc_->file("hosts"), "--proxy-logs-dir", logs_.path()},
                          {"AWF_STATE_DIR=" + state_->path()});
  }

  static std::unique_ptr<TempDir> certs_, state_, etc_;
  static inline std::string netns_error_;
  static std::unique_ptr<DnsStub> dns_;
  static std::unique_ptr<Origin> allowed_http_, allowed_https_, denied_http_;
  TempDir logs_;
};

std::unique_ptr<TempDir> AttachSandboxTest::certs_, AttachSandboxTest::state_, AttachSandboxTest::etc_;
std::unique_ptr<DnsStub> AttachSandboxTest::dns_;
std::unique_ptr<Origin> AttachSandboxTest::allowed_http_, AttachSandboxTest::allowed_https_,
    AttachSandboxTest::denied_http_;

TEST_P(AttachSandboxTest, TheSandboxReachesOnlyWhatThePolicyAllowsAndNothingOfAwfOutlivesIt) {
  // The checks need the sandbox's share directory, which exists once the
  // sandbox does: the script runs them from a file written there before
  // release().
  auto sandbox = Sandbox::start(GetParam(), "sh \"$(dirname \"$0\")/checks.sh\"", 30s, cap_drop_flags(GetParam()));
  ASSERT_EQ(sandbox->failure(), "") << sandbox->command_text();
  awf::testing::write_file(sandbox->dir() + "/checks.sh", checks(sandbox->dir()));
  const HeldNetns held(sandbox->netns());
  ASSERT_TRUE(held.ok()) << sandbox->netns();
  const std::uint64_t inode = sandbox->inode();

  auto awf = attach(sandbox->pid());
  ASSERT_TRUE(awf->wait_for_stderr("Attached to PID " + std::to_string(sandbox->pid()), 30s))
      << awf->stderr_text();
  // stdout comes first, but through a pipe of its own: waited for as well.
  const std::string vars = "HTTP_PROXY=http://127.0.0.1:3128\nHTTPS_PROXY=http://127.0.0.1:3128\n";
  for (int i = 0; i < 250 && awf->stdout_text() != vars; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(awf->stdout_text(), vars);
  awf::testing::write_file(sandbox->dir() + "/proxy.env", awf->stdout_text());
  // While attached, the namespace holds awf's table and listeners.
  EXPECT_NE(held.run({"nft", "list", "tables"}).find("table inet awf"), std::string::npos);
  EXPECT_NE(held.run({"ss", "-Htln"}).find("127.0.0.1:3128 "), std::string::npos);

  sandbox->release();
  ASSERT_EQ(sandbox->wait(120s), std::optional<int>(0)) << sandbox->errors() << awf->stderr_text();
  const std::string out = sandbox->output();
  const auto caps_at = out.find("caps ");
  ASSERT_NE(caps_at, std::string::npos) << out << sandbox->errors();
  EXPECT_FALSE(has_net_admin(out.substr(caps_at + 5, out.find('\n', caps_at) - caps_at - 5))) << out;
  for (const std::string& line : std::vector<std::string>{
           "vars http://127.0.0.1:3128 http://127.0.0.1:3128",
           "nft-delete 1",
           "proxy-https 200 via 127.0.0.1:3128",
           "proxy-http 200 via 127.0.0.1:3128",
           std::string("transparent-https 200 via ") + kAllowedIp + ":443",
           std::string("transparent-http 200 via ") + kAllowedIp + ":80",
           "denied-proxy 403",
           "denied-connect 403",
           "denied-transparent 403",
           "raw-ip 403",
           "raw-ip-proxy 403",
           "raw-ip-other-port 000",
           std::string("dns-allowed ") + kAllowedIp,
           "dns-denied status: REFUSED",
           "dns-elsewhere status: REFUSED",
       }) {
    EXPECT_NE(out.find(line + "\n"), std::string::npos) << line << " in:\n" << out << sandbox->errors();
  }
  const bool ipv6 = out.find("ipv6 none\n") == std::string::npos;
  if (ipv6) {
    EXPECT_NE(out.find(std::string("ipv6 ") + kAllowedIp + " status: REFUSED 403\n"), std::string::npos) << out;
  }
  // The denied origin was never reached.
  EXPECT_EQ(denied_http_->requests(), 0u);

  // The sandbox has ended: awf attach notices, takes its rules out, stops
  // the proxy and reports.
  const auto code = awf->wait(30s);
  ASSERT_TRUE(code.has_value()) << "awf attach did not end with the sandbox\n" << awf->stderr_text();
  const std::string err = awf->stderr_text();
  EXPECT_EQ(*code, 0) << err;
  EXPECT_NE(err.find("PID " + std::to_string(sandbox->pid()) + " exited; detaching"), std::string::npos) << err;
  EXPECT_NE(err.find("Blocked: denied.test"), std::string::npos) << err;
  EXPECT_NE(err.find("[INFO] awf attach: "), std::string::npos) << err;
  EXPECT_NE(err.find("Process exiting with code: 0"), std::string::npos) << err;
  EXPECT_EQ(err.find("[ERROR]"), std::string::npos) << err;
  // stdout holds the two variables only, so that it can go to a file.
  EXPECT_EQ(awf->stdout_text(), vars);
  // No process of the program holds CAP_NET_ADMIN, so no warning: for
  // firejail neither, whose own process in the sandbox keeps every
  // capability but runs firejail's code, not the program's.
  EXPECT_EQ(err.find("CAP_NET_ADMIN"), std::string::npos) << err;
  // The origin's address the program asked for is reported as an address,
  // which no --allow-domains entry lets through.
  const auto addresses = err.find("[WARN] IP addresses refused (");
  ASSERT_NE(addresses, std::string::npos) << err;
  EXPECT_NE(err.find(std::string("\n[WARN]   - ") + kAllowedIp + "\n", addresses), std::string::npos) << err;
  if (ipv6) {
    EXPECT_NE(err.find("\n[WARN]   - [2001:db8::1]\n", addresses), std::string::npos) << err;
  }
  EXPECT_EQ(err.find(std::string("Blocked: ") + kAllowedIp), std::string::npos) << err;
  EXPECT_NE(err.find("--allow-domains \"allowed.test,denied.test\"\n"), std::string::npos) << err;

  const std::string log = awf::testing::read_file(logs_.file("access.log"));
  EXPECT_NE(log.find("TCP_TUNNEL:HIER_DIRECT allowed.test:443"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP_MISS:HIER_DIRECT http://allowed.test/"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE http://denied.test/"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE denied.test:443"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string("TCP_DENIED:HIER_NONE http://") + kAllowedIp + "/"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP_DENIED:HIER_NONE dns://denied.test/A "), std::string::npos) << log;
  // Nothing allowed was refused.
  for (const auto& line : split_lines(log)) {
    EXPECT_FALSE(line.find("allowed.test") != std::string::npos && line.find("TCP_DENIED") != std::string::npos)
        << line;
  }

  // A named namespace ends when deleted, not with its last process.
  sandbox->remove_namespace();
  // Nothing of awf is left: no table, no default route (the sandbox had
  // none), no socket but the TIME-WAIT entries the kernel keeps for the
  // closed connections, no awf-proxy, no process or mount holding the
  // namespace (only this test's descriptor), and the tool lists nothing.
  EXPECT_EQ(held.run({"nft", "list", "tables"}), "");
  EXPECT_EQ(held.run({"ip", "route", "show", "default"}), "");
  EXPECT_EQ(held.run({"ip", "-6", "route", "show", "default"}), "");
  EXPECT_EQ(held.run({"ss", "-Htlnu"}), "");
  EXPECT_EQ(awf::testing::run({"pgrep", "-f", logs_.path()}, 5s).out, "") << "an awf-proxy of this attach still runs";
  EXPECT_EQ(awf::testing::netns_users(inode), std::vector<std::string>{});
  EXPECT_EQ(sandbox->leftovers(), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Tools, AttachSandboxTest,
                         ::testing::Values(SandboxKind::bubblewrap, SandboxKind::firejail, SandboxKind::podman,
                                           SandboxKind::ip_netns),
                         [](const ::testing::TestParamInfo<SandboxKind>& p) {
                           return awf::testing::sandbox_name(p.param);
                         });

}  // namespace
