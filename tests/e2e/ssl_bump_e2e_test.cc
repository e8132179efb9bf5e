// awf --ssl-bump end to end: the real awf makes the run's CA, awf-proxy
// bumps the command's HTTPS (through the proxy variables and transparently)
// with certificates the command trusts through the bundle awf points it at,
// and --allow-urls decides each request. The origin, its name and the DNS
// stub live on 127.0.93.x in the suite's own network namespace. awf-proxy
// trusts the origin's throwaway certificate through SSL_CERT_FILE, which
// OpenSSL's default store reads.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
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
constexpr const char* kOriginIp = "127.0.93.10";

class SslBumpEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    netns_error_ = awf::testing::enter_private_network();
    if (!netns_error_.empty()) return;
    etc_ = std::make_unique<TempDir>();
    ::chmod(etc_->path().c_str(), 0755);
    awf::testing::write_file(etc_->file("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    ::chmod(etc_->file("hosts").c_str(), 0644);
    certs_ = std::make_unique<TempDir>();
    dns_ = DnsStub::start(kDns, {{"bump.test", {kOriginIp}}}, 53);
    origin_ = Origin::start({.host = kOriginIp,
                             .kind = Origin::Kind::https,
                             .cert_dir = certs_->path(),
                             .port = 443,
                             .cert_names = "DNS:bump.test"});
  }
  static void TearDownTestSuite() {
    origin_.reset();
    dns_.reset();
    certs_.reset();
    etc_.reset();
  }

  void SetUp() override {
    AWF_REQUIRE_FACILITY(geteuid() == 0, "end-to-end tests need root (namespaces, nftables)");
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for the suite's origin: " + netns_error_);
    AWF_REQUIRE_FACILITY(fs::exists(kAwf), std::string("awf binary missing at ") + kAwf);
    AWF_REQUIRE_FACILITY(dns_ && origin_, "could not start the DNS stub and the origin on 127.0.93.x:53/443");
    AWF_REQUIRE_FACILITY(fs::exists("/usr/bin/curl"), "/usr/bin/curl is not installed");
  }

  struct Run {
    int exit_code = -1;
    std::string out, err;
  };

  Run awf(std::vector<std::string> flags, const std::string& command) {
    std::vector<std::string> argv = {kAwf, "--dns-servers", kDns, "--allow-private-ranges", "127.0.93.0/24",
                                     "--hosts-file", etc_->file("hosts"), "--proxy-logs-dir", logs_.path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"--", command});
    auto p = Process::spawn(argv, {"AWF_STATE_DIR=" + state_.path(), "SSL_CERT_FILE=" + certs_->file("origin-cert.pem")});
    Run r;
    auto code = p->wait(90s);
    r.exit_code = code ? *code : -1;
    r.out = p->stdout_text();
    r.err = p->stderr_text();
    return r;
  }

  std::string access_log() const { return awf::testing::read_file(logs_.file("access.log")); }

  static std::unique_ptr<TempDir> etc_, certs_;
  static inline std::string netns_error_;
  static std::unique_ptr<DnsStub> dns_;
  static std::unique_ptr<Origin> origin_;
  TempDir logs_, state_;
};

std::unique_ptr<TempDir> SslBumpEndToEnd::etc_, SslBumpEndToEnd::certs_;
std::unique_ptr<DnsStub> SslBumpEndToEnd::dns_;
std::unique_ptr<Origin> SslBumpEndToEnd::origin_;

TEST_F(SslBumpEndToEnd, TheCommandTrustsTheRunsCaAndAllowUrlsDecidesEachRequest) {
  // No -k anywhere: curl verifies the minted certificates against the
  // bundle awf points it at.
  const std::string code = "curl -s -o /dev/null --max-time 10 -w '%{http_code} ' ";
  Run r = awf({"--allow-domains", "bump.test", "--ssl-bump", "--allow-urls", "https://bump.test/allowed/*"},
              code + "https://bump.test/allowed/a; " + code + "https://bump.test/private; " + code +
                  "--noproxy '*' https://bump.test/allowed/b; echo; echo \"$SSL_CERT_FILE $NODE_EXTRA_CA_CERTS\"; "
                  "curl -sv -o /dev/null https://bump.test/allowed/c 2>&1 | grep -o 'issuer: CN=AWF Session CA'; "
                  "echo \"in /tmp/awf-ssl: $(ls -A /tmp/awf-ssl)\"");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("200 403 200 \n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("/tmp/awf-ssl/ca-bundle.pem /tmp/awf-ssl/ca-bundle.pem"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("issuer: CN=AWF Session CA"), std::string::npos) << r.out;
  // The key stays in awf's work directory: the command sees the bundle only.
  EXPECT_NE(r.out.find("in /tmp/awf-ssl: ca-bundle.pem\n"), std::string::npos) << r.out;
  const std::string log = access_log();
  EXPECT_NE(log.find("GET 200 TCP_MISS:HIER_DIRECT https://bump.test/allowed/a"), std::string::npos) << log;
  EXPECT_NE(log.find("GET 403 TCP_DENIED:HIER_NONE https://bump.test/private"), std::string::npos) << log;
  EXPECT_NE(log.find("https://bump.test/allowed/b"), std::string::npos) << log;
}

TEST_F(SslBumpEndToEnd, TheKeyIsKeptOnTmpfsWhereThereIsOneOutOfTheCommandsReachAndRemovedAfter) {
  struct statfs shm {};
  const bool tmpfs = ::statfs("/dev/shm", &shm) == 0 && shm.f_type == TMPFS_MAGIC;
  Run r = awf({"--allow-domains", "bump.test", "--ssl-bump", "--log-level", "debug"},
              "cat /dev/shm/awf-ssl-*/ca-key.pem 2>&1 | head -c 200; echo; ls -A /tmp/awf-ssl");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("PRIVATE KEY"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ca-bundle.pem"), std::string::npos) << r.out;
  const std::string where = tmpfs ? "the run's CA key is in /dev/shm/awf-ssl-" : "the run's CA key is in /";
  EXPECT_NE(r.err.find(where), std::string::npos) << r.err;
  if (tmpfs) {
    const auto at = r.err.find("/dev/shm/awf-ssl-");
    const std::string dir = r.err.substr(at, r.err.find('\n', at) - at);
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " is left after the run";
  }
}

TEST_F(SslBumpEndToEnd, AllowUrlsWithABadPatternIsRefusedBeforeTheRun) {
  Run r = awf({"--allow-domains", "bump.test", "--ssl-bump", "--allow-urls", "https://bump.test"}, "true");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("URL pattern \"https://bump.test\" must include a path component"), std::string::npos)
      << r.err;
}

}  // namespace
