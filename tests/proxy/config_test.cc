// Unit tests of awf-proxy's flags and YAML configuration.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "awf/proxy/bump_authority.h"
#include "awf/proxy/config.h"
#include "awf/testing/files.h"
#include "awf/testing/process.h"

using namespace awf::proxy;

namespace {

awf::Result<CommandLine> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "awf-proxy");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(Config, DefaultsAreAwfSquidValues) {
  auto c = parse({});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->config.listen.size(), 1u);
  EXPECT_EQ(c->config.listen[0].text(), "127.0.0.1:3128");
  EXPECT_EQ(c->config.connect_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->config.request_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->config.read_timeout, std::chrono::minutes(30));
  EXPECT_EQ(c->config.client_lifetime, std::chrono::hours(8));
  EXPECT_TRUE(c->config.tunnel_sni_check);
}

TEST(Config, TunnelSniCheckIsOnOrOffFromFlagOrFile) {
  auto off = parse({"--tunnel-sni-check", "off"});
  ASSERT_TRUE(off) << off.message();
  EXPECT_FALSE(off->config.tunnel_sni_check);
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "tunnel-sni-check: off\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  EXPECT_FALSE(from_file->config.tunnel_sni_check);
  auto bad = parse({"--tunnel-sni-check", "no"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("--tunnel-sni-check"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("no"), std::string::npos) << bad.message();
}

TEST(Config, EnableDlpIsOffByDefaultAndOnFromFlagOrFile) {
  EXPECT_FALSE(parse({})->config.enable_dlp);
  EXPECT_TRUE(parse({"--enable-dlp"})->config.enable_dlp);
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "enable-dlp: true\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  EXPECT_TRUE(from_file->config.enable_dlp);
}

TEST(Config, PolicyModeIsEnforceOrReport) {
  EXPECT_FALSE(parse({})->config.report_only);
  EXPECT_FALSE(parse({"--policy-mode", "enforce"})->config.report_only);
  EXPECT_TRUE(parse({"--policy-mode", "report"})->config.report_only);
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "policy-mode: report\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  EXPECT_TRUE(from_file->config.report_only);
  auto bad = parse({"--policy-mode", "warn"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("--policy-mode"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("warn"), std::string::npos) << bad.message();
}

TEST(Config, AllowedMethodsAreUpperCasedAndBadOnesNamed) {
  EXPECT_TRUE(parse({})->config.allowed_methods.empty());
  EXPECT_TRUE(parse({})->config.raw_tunnels_allowed());
  auto c = parse({"--allowed-methods", "get, HEAD,get"});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->config.allowed_methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_FALSE(c->config.raw_tunnels_allowed());
  EXPECT_TRUE(parse({"--allowed-methods", "GET,CONNECT"})->config.raw_tunnels_allowed());
  auto bad = parse({"--allowed-methods", "GET,PO ST"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "--allowed-methods: \"PO ST\" is not an HTTP method");
  auto empty = parse({"--allowed-methods", "GET,,HEAD"});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.message().find("an empty entry"), std::string::npos) << empty.message();
  EXPECT_FALSE(parse({"--allowed-methods", ""}));
}

TEST(Config, BudgetsTakeNumbersAndSizesAndNameBadOnes) {
  auto c = parse({"--budget-rps", "2.5", "--budget-tunnels", "4", "--budget-bytes", "500M"});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->config.budget_rps, 2.5);
  EXPECT_EQ(c->config.budget_tunnels, 4u);
  EXPECT_EQ(c->config.budget_bytes, 500ull * 1024 * 1024);
  EXPECT_EQ(parse({"--budget-bytes", "64k"})->config.budget_bytes, 65536u);
  EXPECT_EQ(parse({"--budget-bytes", "1000"})->config.budget_bytes, 1000u);
  for (const char* bad : {"", "0", "5T", "M", "-1", "99999999999999999999"}) {
    auto r = parse({"--budget-bytes", bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.message().find(std::string("--budget-bytes \"") + bad + "\""), std::string::npos) << r.message();
  }
  EXPECT_FALSE(parse({"--budget-rps", "0"}));
  EXPECT_FALSE(parse({"--budget-tunnels", "0"}));
}

TEST(Config, UpstreamProxyAndBypassFromFlagOrFileWithClearErrors) {
  EXPECT_FALSE(parse({})->config.upstream_proxy);
  auto c = parse({"--upstream-proxy", "http://proxy.corp.test:8080", "--upstream-bypass", "corp.test,.svc.test"});
  ASSERT_TRUE(c) << c.message();
  ASSERT_TRUE(c->config.upstream_proxy);
  EXPECT_EQ(c->config.upstream_proxy->url(), "http://proxy.corp.test:8080");
  EXPECT_EQ(c->config.upstream_bypass, (std::vector<std::string>{"corp.test", "svc.test"}));

  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "upstream-proxy: http://10.0.0.5\nupstream-bypass: corp.test\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  EXPECT_EQ(from_file->config.upstream_proxy->url(), "http://10.0.0.5:3128");

  struct Case {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {{"--upstream-proxy", "https://proxy.corp.test"}, "--upstream-proxy \"https://proxy.corp.test\": only http://"},
      {{"--upstream-proxy", "proxy.corp.test:3128"}, "expected a URL like http://"},
      {{"--upstream-bypass", "corp.test"}, "--upstream-bypass needs --upstream-proxy"},
      {{"--upstream-proxy", "http://p.test", "--upstream-bypass", "corp.test,10.0.0.0/8"},
       "--upstream-bypass entry \"10.0.0.0/8\": addresses and ranges are not matched"},
  };
  for (const Case& k : cases) {
    auto bad = parse(k.args);
    ASSERT_FALSE(bad) << k.says;
    EXPECT_NE(bad.message().find(k.says), std::string::npos) << bad.message();
  }
}

TEST(Config, RepeatableAndCommaFlags) {
  auto c = parse({"--listen", "127.0.0.1:0", "--listen", "[::1]:3128", "--allow-domains", "a.test,b.test",
                  "--allow-domains", "c.test", "--dns-servers", "127.0.0.1:5353,::1", "--allow-private-ranges",
                  "127.0.0.0/8,::1/128", "--log-format", "squid", "--read-timeout", "0.5"});
  ASSERT_TRUE(c) << c.message();
  ASSERT_EQ(c->config.listen.size(), 2u);
  EXPECT_EQ(c->config.listen[1].text(), "[::1]:3128");
  EXPECT_EQ(c->config.policy.allow_domains.size(), 2u);
  EXPECT_EQ(c->config.dns_servers.size(), 2u);
  EXPECT_EQ(c->config.allow_private_ranges.size(), 2u);
  EXPECT_EQ(c->config.log_format, LogFormat::squid);
  EXPECT_EQ(c->config.read_timeout, std::chrono::milliseconds(500));
}

TEST(Config, BadValuesNameTheFlag) {
  auto c = parse({"--listen", "localhost"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("--listen"), std::string::npos);
  c = parse({"--dns-servers", "dns.example"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("Invalid DNS server IP address: dns.example"), std::string::npos);
  c = parse({"--allow-host-ports", "8080"});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.message(), "--allow-host-ports requires --enable-host-access to be set");
  c = parse({"--log-format", "json"});
  ASSERT_FALSE(c);
  c = parse({"--no-such-flag"});
  ASSERT_FALSE(c);
}

TEST(Config, YamlFileUsesTheLongFlagNames) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"),
                           "listen: [127.0.0.1:0]\nallow-domains: [a.test, b.test]\nenable-host-access: true\n"
                           "allow-host-ports: 8080\nlog-level: debug\nthreads: 3\n");
  auto c = parse({"--config", dir.file("c.yaml"), "--threads", "2"});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->config.listen[0].text(), "127.0.0.1:0");
  EXPECT_EQ(c->config.policy.allow_domains.size(), 2u);
  EXPECT_TRUE(c->config.enable_host_access);
  EXPECT_EQ(c->config.log_level, "debug");
  EXPECT_EQ(c->config.threads, 2u);  // the command line wins
}

TEST(Config, YamlUnknownKeyIsNamed) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "allowDomains: [a.test]\n");
  auto c = parse({"--config", dir.file("c.yaml")});
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("unknown key \"allowDomains\""), std::string::npos);
  auto missing = parse({"--config", dir.file("missing.yaml")});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("missing.yaml"), std::string::npos);
}

TEST(Config, ListenSocksIsRepeatableFromFlagOrFileAndNamesABadAddress) {
  auto c = parse({"--listen-socks", "127.0.0.1:1080", "--listen-socks", "[::1]:0"});
  ASSERT_TRUE(c) << c.message();
  ASSERT_EQ(c->config.listen_socks.size(), 2u);
  EXPECT_EQ(c->config.listen_socks[0].text(), "127.0.0.1:1080");
  EXPECT_EQ(c->config.listen_socks[1].text(), "[::1]:0");
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "listen-socks: [\"127.0.0.1:1080\"]\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  ASSERT_EQ(from_file->config.listen_socks.size(), 1u);
  for (const char* bad : {"localhost:1080", "127.0.0.1", "127.0.0.1:65536"}) {
    auto r = parse({"--listen-socks", bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.message().find("--listen-socks \"" + std::string(bad) + "\""), std::string::npos) << r.message();
  }
}

TEST(Config, HelpAndVersionExitZero) {
  auto c = parse({"--help"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->exit_code, 0);
  for (const char* flag : {"--listen", "--allow-domains", "--block-domains", "--ruleset-file", "--allow-host-ports",
                           "--dns-servers", "--hosts-file", "--allow-private-ranges", "--log-dir", "--log-format",
                           "--log-level", "--threads", "--connect-timeout", "--request-timeout", "--read-timeout",
                           "--client-lifetime", "--max-header-bytes", "--max-connections"}) {
    EXPECT_NE(c->output.find(flag), std::string::npos) << flag;
  }
  auto v = parse({"--version"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->exit_code, 0);
  EXPECT_EQ(v->output.rfind("awf-proxy ", 0), 0u);
}

// A CA made with OpenSSL into `dir` as NAME.pem and NAME-key.pem (0600).
void make_ca(const awf::testing::TempDir& dir, const std::string& name) {
  auto r = awf::testing::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-keyout", dir.file(name + "-key.pem"), "-out", dir.file(name + ".pem"),
                              "-days", "1", "-subj", "/CN=" + name},
                             std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(::chmod(dir.file(name + "-key.pem").c_str(), 0600), 0);
}

TEST(Config, SslBumpFlagsFromFlagOrFile) {
  auto c = parse({"--ssl-bump-cert", "/ca.pem", "--ssl-bump-key", "/ca-key.pem", "--allow-urls",
                  "https://github.com/myorg/*,https://api.test/v1", "--ssl-bump-exclude", "bank.test,.pay.test"});
  ASSERT_TRUE(c) << c.message();
  EXPECT_TRUE(c->config.ssl_bump());
  ASSERT_EQ(c->config.allow_urls.size(), 2u);
  EXPECT_EQ(c->config.allow_urls[0].regex, "^https://github\\.com/myorg/[^\\s]*");
  EXPECT_EQ(c->config.ssl_bump_exclude, (std::vector<std::string>{"bank.test", "pay.test"}));
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"),
                           "ssl-bump-cert: /ca.pem\nssl-bump-key: /ca-key.pem\nallow-urls: https://a.test/x\n"
                           "ssl-bump-exclude: [bank.test]\nssl-bump-upstream-ca: /origin.pem\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  EXPECT_EQ(from_file->config.allow_urls.size(), 1u);
  EXPECT_EQ(from_file->config.ssl_bump_upstream_ca, "/origin.pem");
  EXPECT_FALSE(parse({})->config.ssl_bump());
}

struct BadFlags {
  const char* sentence;
  std::vector<std::string> args;
  const char* message;
};

TEST(Config, SslBumpFlagErrorsSayWhatIsMissingOrWrong) {
  const BadFlags cases[] = {
      {"a cert without its key", {"--ssl-bump-cert", "/ca.pem"}, "--ssl-bump-cert needs --ssl-bump-key"},
      {"a key without its cert", {"--ssl-bump-key", "/k.pem"}, "--ssl-bump-key needs --ssl-bump-cert"},
      {"allow-urls without the CA", {"--allow-urls", "https://a.test/x"}, "--allow-urls requires --ssl-bump-cert"},
      {"exclusions without the CA", {"--ssl-bump-exclude", "a.test"}, "--ssl-bump-exclude needs --ssl-bump-cert"},
      {"an http pattern",
       {"--ssl-bump-cert", "/c", "--ssl-bump-key", "/k", "--allow-urls", "http://a.test/x"},
       "--allow-urls: URL patterns must start with https:// (got: http://a.test/x)"},
      {"a pattern without a path",
       {"--ssl-bump-cert", "/c", "--ssl-bump-key", "/k", "--allow-urls", "https://a.test"},
       "--allow-urls: URL pattern \"https://a.test\" must include a path component"},
      {"a pattern for every host",
       {"--ssl-bump-cert", "/c", "--ssl-bump-key", "/k", "--allow-urls", "https://*"},
       "--allow-urls: URL pattern \"https://*\" is too broad and would bypass security controls"},
      {"an IP in the exclusions",
       {"--ssl-bump-cert", "/c", "--ssl-bump-key", "/k", "--ssl-bump-exclude", "10.0.0.1"},
       "--ssl-bump-exclude entry \"10.0.0.1\""},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r) << c.sentence;
    EXPECT_NE(r.message().find(c.message), std::string::npos) << c.sentence << ": " << r.message();
  }
}

awf::Result<std::unique_ptr<BumpAuthority>> load_bump(const std::string& cert, const std::string& key) {
  Config c;
  c.ssl_bump_cert = cert;
  c.ssl_bump_key = key;
  return BumpAuthority::load(c);
}

TEST(Config, SslBumpCaIsCheckedAtStartUp) {
  awf::testing::TempDir dir;
  make_ca(dir, "ca");
  make_ca(dir, "other");
  ASSERT_FALSE(HasFatalFailure());
  auto good = load_bump(dir.file("ca.pem"), dir.file("ca-key.pem"));
  ASSERT_TRUE(good) << good.message();

  auto missing = load_bump(dir.file("ca.pem"), dir.file("missing-key.pem"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("--ssl-bump-key \"" + dir.file("missing-key.pem") + "\": cannot open: No such file"),
            std::string::npos)
      << missing.message();

  auto mismatched = load_bump(dir.file("ca.pem"), dir.file("other-key.pem"));
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.message().find("--ssl-bump-key \"" + dir.file("other-key.pem") +
                                      "\" does not match --ssl-bump-cert \"" + dir.file("ca.pem") + "\""),
            std::string::npos)
      << mismatched.message();

  ASSERT_EQ(::chmod(dir.file("ca-key.pem").c_str(), 0644), 0);
  auto readable = load_bump(dir.file("ca.pem"), dir.file("ca-key.pem"));
  ASSERT_FALSE(readable);
  EXPECT_NE(readable.message().find("is readable or writable by group or others (mode 0644)"), std::string::npos)
      << readable.message();
  EXPECT_NE(readable.message().find("chmod 600"), std::string::npos) << readable.message();
  ASSERT_EQ(::chmod(dir.file("ca-key.pem").c_str(), 0600), 0);

  awf::testing::write_file(dir.file("junk.pem"), "not a certificate\n");
  auto junk = load_bump(dir.file("junk.pem"), dir.file("ca-key.pem"));
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.message().find("--ssl-bump-cert \"" + dir.file("junk.pem") + "\": not a PEM certificate: "),
            std::string::npos)
      << junk.message();

  Config c;
  c.ssl_bump_cert = dir.file("ca.pem");
  c.ssl_bump_key = dir.file("ca-key.pem");
  c.ssl_bump_upstream_ca = dir.file("junk.pem");
  auto bad_upstream = BumpAuthority::load(c);
  ASSERT_FALSE(bad_upstream);
  EXPECT_NE(bad_upstream.message().find("--ssl-bump-upstream-ca \"" + dir.file("junk.pem") + "\""), std::string::npos)
      << bad_upstream.message();
}

TEST(Config, SslBumpMintsOncePerNameAndKeepsABoundedCache) {
  awf::testing::TempDir dir;
  make_ca(dir, "ca");
  ASSERT_FALSE(HasFatalFailure());
  Config c;
  c.ssl_bump_cert = dir.file("ca.pem");
  c.ssl_bump_key = dir.file("ca-key.pem");
  c.ssl_bump_exclude = {"bank.test"};
  auto a = BumpAuthority::load(c, 2);
  ASSERT_TRUE(a) << a.message();
  BumpAuthority& bump = **a;
  const std::size_t at_start = bump.minted_certificates();
  auto first = bump.server_context("a.test");
  ASSERT_TRUE(first) << first.message();
  auto again = bump.server_context("a.test");
  ASSERT_TRUE(again);
  EXPECT_EQ(first->get(), again->get()) << "the cached context is reused";
  ASSERT_TRUE(bump.server_context("b.test"));
  ASSERT_TRUE(bump.server_context("127.0.0.1"));
  EXPECT_EQ(bump.cached_certificates(), 2u);
  EXPECT_EQ(bump.minted_certificates() - at_start, 3u);
  ASSERT_TRUE(bump.server_context("a.test"));  // evicted as the least recently used: minted again
  EXPECT_EQ(bump.minted_certificates() - at_start, 4u);
  EXPECT_TRUE(bump.is_excluded("bank.test"));
  EXPECT_TRUE(bump.is_excluded("www.bank.test"));
  EXPECT_FALSE(bump.is_excluded("notbank.test"));
  EXPECT_EQ(bump.allow_urls(), nullptr);
}

TEST(Config, AdminListenIsOffByDefaultAndTakenFromFlagOrFile) {
  auto none = parse({});
  ASSERT_TRUE(none) << none.message();
  EXPECT_FALSE(none->config.admin_listen);
  auto v4 = parse({"--admin-listen", "127.0.0.1:9090"});
  ASSERT_TRUE(v4) << v4.message();
  ASSERT_TRUE(v4->config.admin_listen);
  EXPECT_EQ(v4->config.admin_listen->text(), "127.0.0.1:9090");
  auto v6 = parse({"--admin-listen", "[::1]:0"});
  ASSERT_TRUE(v6) << v6.message();
  EXPECT_EQ(v6->config.admin_listen->text(), "[::1]:0");
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"), "admin-listen: 127.0.0.2:9191\nadmin-allow-non-loopback: false\n");
  auto from_file = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(from_file) << from_file.message();
  ASSERT_TRUE(from_file->config.admin_listen);
  EXPECT_EQ(from_file->config.admin_listen->text(), "127.0.0.2:9191");
}

TEST(Config, AdminListenOnANonLoopbackAddressIsRefusedWithoutItsFlag) {
  for (const char* address : {"10.0.0.1:9090", "0.0.0.0:9090", "[::]:9090", "192.0.2.1:80"}) {
    auto refused = parse({"--admin-listen", address});
    ASSERT_FALSE(refused) << address;
    EXPECT_NE(refused.message().find(std::string("--admin-listen \"") + address + "\""), std::string::npos)
        << refused.message();
    EXPECT_NE(refused.message().find("not a loopback address"), std::string::npos) << refused.message();
    EXPECT_NE(refused.message().find("--admin-allow-non-loopback"), std::string::npos) << refused.message();
    auto allowed = parse({"--admin-listen", address, "--admin-allow-non-loopback"});
    ASSERT_TRUE(allowed) << allowed.message();
    EXPECT_TRUE(allowed->config.admin_allow_non_loopback);
  }
}

TEST(Config, AdminListenThatIsNoAddressIsRefusedNamingTheFlag) {
  for (const char* bad : {"localhost:9090", "127.0.0.1", "127.0.0.1:99999", ""}) {
    auto c = parse({"--admin-listen", bad, "--admin-allow-non-loopback"});
    if (std::string_view(bad).empty()) {
      // An empty value asks for nothing: the listener stays off.
      ASSERT_TRUE(c) << c.message();
      EXPECT_FALSE(c->config.admin_listen);
      continue;
    }
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.message().rfind("--admin-listen \"", 0), 0u) << c.message();
  }
}

}  // namespace
