// Unit tests of awf-proxy's flags and YAML configuration.
#include <gtest/gtest.h>

#include <fstream>

#include "awf/proxy/config.h"
#include "awf/testing/files.h"

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

}  // namespace
