// awf's flags end to end through CLI11: every validation message of awf that
// the native runtime implements, --config precedence, the localhost keyword,
// host ports, DNS, and the flags the native runtime refuses.
#include "awf/cli/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>

namespace awf::cli {
namespace {

namespace fs = std::filesystem;

class Options : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/awf-cli-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ctx_.host_env = {{"HOME", "/home/me"}, {"TMPDIR", "/var/tmp/"}, {"DATA", "/srv"}};
    ctx_.resolv_conf_paths = {write("resolv.conf", "nameserver 127.0.0.53\nnameserver 10.1.2.3\n")};
    ctx_.path_exists = [](const std::string& p) { return p != "/missing"; };
    ctx_.now_ms = 1761074374646;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

  Result<LaunchConfig> parse(std::vector<std::string> args) { return parse_command_line(args, ctx_); }

  std::string error(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    return r.ok() ? "<ok>" : r.message();
  }

  static std::vector<std::string> notices(const LaunchConfig& c, Notice::Level level) {
    std::vector<std::string> out;
    for (const auto& n : c.notices) {
      if (n.level == level) out.push_back(n.text);
    }
    return out;
  }

  std::string dir_;
  FinalizeContext ctx_;
};

TEST_F(Options, FlagErrorsUseAwfMessages) {
  struct Case {
    const char* why;
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {"no command",
       {"--allow-domains", "github.com"},
       "Error: No command specified. Use -- to separate command from options.\n"
       "Example: awf --allow-domains github.com -- curl https://api.github.com"},
      {"reflect with a command", {"--reflect", "--", "true"}, "Error: --reflect cannot be used with a command."},
      {"unknown log level", {"--log-level", "verbose", "--", "true"}, "Invalid log level: verbose"},
      {"missing domains file",
       {"--allow-domains-file", "/nope/domains.txt", "--", "true"},
       "[ERROR] Failed to read domains file: Domains file not found: /nope/domains.txt"},
      {"missing blocked domains file",
       {"--block-domains-file", "/nope/blocked.txt", "--", "true"},
       "[ERROR] Failed to read blocked domains file: Domains file not found: /nope/blocked.txt"},
      {"missing ruleset file",
       {"--ruleset-file", "/nope/rules.yaml", "--", "true"},
       "[ERROR] Failed to load ruleset file: Ruleset file not found: /nope/rules.yaml"},
      {"a match-all pattern",
       {"--allow-domains", "github.com,*", "--", "true"},
       "[ERROR] Invalid domain or pattern: Pattern '*' matches all domains and is not allowed"},
      {"double dots", {"-d", "github..com", "--", "true"},
       "[ERROR] Invalid domain or pattern: Invalid domain 'github..com': contains double dots"},
      {"a bad blocked entry",
       {"--block-domains", "*.*", "--", "true"},
       "[ERROR] Invalid blocked domain or pattern: Pattern '*.*' is too broad and is not allowed"},
      {"-e without equals sign",
       {"-e", "NOVALUE", "--", "true"},
       "[ERROR] Invalid environment variable format: NOVALUE (expected KEY=VALUE)"},
      {"missing env file", {"--env-file", "/nope/.env", "--", "true"}, "[ERROR] --env-file: file not found: /nope/.env"},
      {"mount with a relative host path",
       {"-v", "data:/data", "--", "true"},
       "[ERROR] Invalid volume mount: data:/data\n[ERROR] Reason: Host path must be absolute (start with /)"},
      {"mount of a missing path",
       {"--mount", "/missing:/data:ro", "--", "true"},
       "[ERROR] Invalid volume mount: /missing:/data:ro\n[ERROR] Reason: Host path does not exist: /missing"},
      {"mount naming an unset variable",
       {"-v", "${UNSET}:/x", "--", "true"},
       "[ERROR] Invalid volume mount: ${UNSET}:/x\n[ERROR] Reason: Environment variable is not set: ${UNSET}"},
      {"a DNS name as DNS server",
       {"--dns-servers", "8.8.8.8,dns.google", "--", "true"},
       "[ERROR] Invalid DNS servers: Invalid DNS server IP address: dns.google"},
      {"an empty DNS list", {"--dns-servers", ",", "--", "true"},
       "[ERROR] Invalid DNS servers: At least one DNS server must be specified"},
      {"DoH over plain http",
       {"--dns-over-https", "http://dns.example/q", "--", "true"},
       "[ERROR] --dns-over-https resolver URL must start with https://"},
      {"URL patterns without SSL bump",
       {"--allow-urls", "https://github.com/org/*", "--", "true"},
       "[ERROR] --allow-urls requires --ssl-bump to be enabled"},
      {"a malformed memory limit",
       {"--memory-limit", "lots", "--", "true"},
       "[ERROR] Invalid --memory-limit value \"lots\". Expected format: <number><unit> (e.g., 2g, 512m, 4g)"},
      {"a zero timeout", {"--agent-timeout", "0", "--", "true"},
       "[ERROR] --agent-timeout must be a positive integer (minutes)"},
      {"a fractional timeout", {"--agent-timeout", "1.5", "--", "true"},
       "[ERROR] --agent-timeout must be a positive integer (minutes)"},
      {"a negative-looking timeout", {"--agent-timeout=-3", "--", "true"},
       "[ERROR] --agent-timeout must be a positive integer (minutes)"},
      {"host ports without host access",
       {"--allow-host-ports", "3000", "--", "true"},
       "[ERROR] \u274c --allow-host-ports requires --enable-host-access to be set"},
      {"a dangerous host port",
       {"--enable-host-access", "--allow-host-ports", "22", "--", "true"},
       "[ERROR] Port 22 is blocked for security reasons. Dangerous ports (SSH:22, MySQL:3306, PostgreSQL:5432, etc.) "
       "cannot be allowed even with --allow-host-ports."},
      {"an out-of-range host port",
       {"--enable-host-access", "--allow-host-ports", "70000", "--", "true"},
       "[ERROR] Invalid port: 70000. Must be a number between 1 and 65535"},
      {"a reversed range",
       {"--enable-host-access", "--allow-host-ports", "3010-3000", "--", "true"},
       "[ERROR] Invalid port range: 3010-3000. Must be in format START-END where 1 <= START <= END <= 65535"},
      {"a range over a dangerous port",
       {"--enable-host-access", "--allow-host-ports", "20-25", "--", "true"},
       "[ERROR] Port range 20-25 includes dangerous port 22 which is blocked for security reasons. Dangerous ports "
       "(SSH, databases, etc.) cannot be allowed even with --allow-host-ports."},
      {"skip-pull with build-local",
       {"--skip-pull", "--build-local", "--", "true"},
       "[ERROR] \u274c --skip-pull cannot be used with --build-local. Building images requires pulling base images "
       "from the registry."},
      {"an unknown option before --", {"--allow-domains", "a.com", "curl", "-s"},
       "error: The following argument was not expected: -s"},
  };
  for (const auto& c : cases) EXPECT_EQ(error(c.args), c.message) << c.why;
}

TEST_F(Options, OurFlagsAreValidated) {
  EXPECT_EQ(error({"--runtime", "vm", "--", "true"}), "[ERROR] Invalid runtime: vm. Must be one of: native, docker");
  EXPECT_EQ(error({"--dns-policy", "strict", "--", "true"}),
            "[ERROR] Invalid DNS policy: strict. Must be one of: allowlist, open");
  EXPECT_EQ(error({"--security-mode", "loose", "--", "true"}),
            "[ERROR] Invalid --security-mode: loose. Must be one of: strict, compat");
  EXPECT_EQ(error({"--runtime", "docker", "--", "true"}),
            "[ERROR] --runtime docker is not available in this build; use --runtime native (the default)");
  auto open = parse({"--dns-policy", "open", "--", "true"});
  ASSERT_TRUE(open.ok()) << open.message();
  EXPECT_EQ(open->dns_policy, DnsPolicy::open);
  EXPECT_TRUE(open->tunnel_sni_check);
  EXPECT_EQ(error({"--tunnel-sni-check", "maybe", "--", "true"}),
            "[ERROR] Invalid --tunnel-sni-check: maybe. Must be one of: on, off");
  auto raw = parse({"--tunnel-sni-check", "off", "--", "true"});
  ASSERT_TRUE(raw.ok()) << raw.message();
  EXPECT_FALSE(raw->tunnel_sni_check);
  EXPECT_FALSE(raw->enable_dlp);
  auto dlp = parse({"--enable-dlp", "--", "true"});
  ASSERT_TRUE(dlp.ok()) << dlp.message();
  EXPECT_TRUE(dlp->enable_dlp);
}

TEST_F(Options, DockerOnlyFlagsAreRefusedByTheNativeRuntime) {
  struct Case {
    std::vector<std::string> args;
    const char* flag;
  } cases[] = {
      {{"--build-local"}, "--build-local"},
      {{"--agent-image", "act"}, "--agent-image"},
      {{"--image-registry", "r"}, "--image-registry"},
      {{"--image-tag", "v1"}, "--image-tag"},
      {{"--skip-pull"}, "--skip-pull"},
      {{"--docker-host", "unix:///x"}, "--docker-host"},
      {{"--container-runtime", "gvisor"}, "--container-runtime"},
      {{"--enable-dind"}, "--enable-dind"},
      {{"--legacy-security"}, "--legacy-security"},
      {{"--security-mode", "compat"}, "--legacy-security"},
      {{"--no-network-isolation"}, "--network-isolation"},
      {{"--topology-attach", "mcp"}, "--topology-attach"},
      {{"--dns-over-https"}, "--dns-over-https"},
      {{"--allow-host-service-ports", "5432"}, "--allow-host-service-ports"},
      {{"--rate-limit-rpm", "60"}, "--rate-limit-rpm"},
      {{"--max-model-multiplier", "2"}, "--max-model-multiplier"},
      {{"--no-rate-limit"}, "--no-rate-limit"},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    args.insert(args.end(), {"--", "true"});
    std::string msg = error(args);
    EXPECT_EQ(msg.rfind(std::string("[ERROR] ") + c.flag + " is not supported by the native runtime (", 0), 0u)
        << msg;
    EXPECT_NE(msg.find("it needs --runtime docker"), std::string::npos) << msg;
  }
  EXPECT_EQ(error({"--reflect"}).rfind("[ERROR] --reflect is not supported by the native runtime", 0), 0u);
  EXPECT_EQ(error({"--no-enable-api-proxy", "--", "true"}),
            "[ERROR] \u274c --no-enable-api-proxy is not allowed: the API proxy is on whenever a provider key is "
            "present; --no-api-proxy turns it off (the keys then stay withheld from the agent)");
  EXPECT_TRUE(parse({"--enable-api-proxy", "--", "true"}).ok()) << "deprecated no-op";
}

TEST_F(Options, PolicyModeReportIsAnnouncedAndAnythingElseRefused) {
  auto enforce = parse({"--allow-domains", "x.test", "--", "true"});
  ASSERT_TRUE(enforce.ok()) << enforce.message();
  EXPECT_FALSE(enforce->report_only);
  EXPECT_TRUE(notices(*enforce, Notice::Level::warn).empty());
  auto report = parse({"--allow-domains", "x.test", "--policy-mode", "report", "--", "true"});
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_TRUE(report->report_only);
  const auto warns = notices(*report, Notice::Level::warn);
  ASSERT_EQ(warns.size(), 1u);
  EXPECT_EQ(warns[0].rfind("--policy-mode report: the domain policy is not enforced", 0), 0u) << warns[0];
  EXPECT_EQ(error({"--policy-mode", "audit", "--", "true"}),
            "[ERROR] Invalid --policy-mode: audit. Must be one of: enforce, report");
}

TEST_F(Options, AllowedMethodsAreReadAsAwfProxyReadsThem) {
  auto none = parse({"--", "true"});
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_TRUE(none->allowed_methods.empty());
  auto some = parse({"--allowed-methods", "get,HEAD", "--", "true"});
  ASSERT_TRUE(some.ok()) << some.message();
  EXPECT_EQ(some->allowed_methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(error({"--allowed-methods", "GET,P/UT", "--", "true"}),
            "[ERROR] --allowed-methods: \"P/UT\" is not an HTTP method");
  EXPECT_NE(error({"--allowed-methods", "", "--", "true"}).find("an empty entry"), std::string::npos);
}

TEST_F(Options, UpstreamProxyFromTheFlagOrTheHostsVariablesWithNoProxyAsTheBypass) {
  auto none = parse({"--", "true"});
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_FALSE(none->upstream_proxy);

  auto given = parse({"--upstream-proxy", "http://corp.test:8080", "--", "true"});
  ASSERT_TRUE(given.ok()) << given.message();
  ASSERT_TRUE(given->upstream_proxy);
  EXPECT_EQ(given->upstream_proxy->url(), "http://corp.test:8080");  // the port as given
  EXPECT_EQ(parse({"--upstream-proxy", "http://corp.test", "--", "true"})->upstream_proxy->port, 3128);

  EXPECT_EQ(error({"--upstream-proxy", "https://corp.test", "--", "true"}).rfind(
                "[ERROR] --upstream-proxy \"https://corp.test\": only http:// parent proxies are supported", 0),
            0u);
  const std::string with_password = error({"--upstream-proxy", "http://me:hunter2@corp.test:3128", "--", "true"});
  EXPECT_NE(with_password.find("credentials in the URL are not supported"), std::string::npos) << with_password;
  EXPECT_EQ(with_password.find("hunter2"), std::string::npos) << with_password;

  // Detected: HTTPS first, then HTTP; the flag wins over both.
  ctx_.host_env["http_proxy"] = "http://plain.corp.test:3129";
  ctx_.host_env["HTTPS_PROXY"] = "http://secure.corp.test:3130";
  ctx_.host_env["no_proxy"] = "localhost,.corp.test, internal.test,10.0.0.0/8,*";
  auto detected = parse({"--allow-domains", "x.test", "--", "true"});
  ASSERT_TRUE(detected.ok()) << detected.message();
  ASSERT_TRUE(detected->upstream_proxy);
  EXPECT_EQ(detected->upstream_proxy->url(), "http://secure.corp.test:3130");
  // localhost stays direct: with host access it is a destination, and the
  // parent's own loopback is not the host's.
  EXPECT_EQ(detected->upstream_bypass, (std::vector<std::string>{"localhost", "corp.test", "internal.test"}));
  const auto infos = notices(*detected, Notice::Level::info);
  EXPECT_NE(std::find(infos.begin(), infos.end(),
                      "Using upstream proxy http://secure.corp.test:3130 from HTTPS_PROXY (--upstream-proxy overrides it)"),
            infos.end());
  const auto warns = notices(*detected, Notice::Level::warn);
  ASSERT_EQ(warns.size(), 2u) << ::testing::PrintToString(warns);
  EXPECT_EQ(warns[0].rfind("no_proxy entry \"10.0.0.0/8\" ignored for the upstream proxy: addresses", 0), 0u) << warns[0];
  EXPECT_EQ(warns[1].rfind("no_proxy entry \"*\" ignored for the upstream proxy", 0), 0u) << warns[1];
  EXPECT_EQ(parse({"--upstream-proxy", "http://flag.test:1", "--", "true"})->upstream_proxy->host, "flag.test");

  // A variable awf cannot use is a warning (it was set for other programs),
  // its password masked; requests then go direct.
  ctx_.host_env.erase("HTTPS_PROXY");
  ctx_.host_env["https_proxy"] = "https://u:pw@secure.corp.test";
  auto unusable = parse({"--allow-domains", "x.test", "--", "true"});
  ASSERT_TRUE(unusable.ok()) << unusable.message();
  EXPECT_FALSE(unusable->upstream_proxy);
  EXPECT_TRUE(unusable->upstream_bypass.empty());
  const auto unusable_warns = notices(*unusable, Notice::Level::warn);
  ASSERT_EQ(unusable_warns.size(), 1u);
  EXPECT_EQ(unusable_warns[0].rfind("https_proxy \"https://***@secure.corp.test\": only http://", 0), 0u)
      << unusable_warns[0];
  EXPECT_NE(unusable_warns[0].find("requests go direct"), std::string::npos) << unusable_warns[0];
}

TEST_F(Options, DefaultsMatchAwf) {
  auto c = parse({"--", "curl", "https://api.github.com"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->command, "curl https://api.github.com");
  EXPECT_TRUE(c->policy.allow.empty());
  EXPECT_TRUE(c->ruleset->empty_allowlist());
  EXPECT_EQ(c->log_level, LogLevel::info);
  EXPECT_EQ(c->runtime, Runtime::native);
  EXPECT_EQ(c->dns_policy, DnsPolicy::allowlist);
  EXPECT_EQ(c->memory_limit, "6g");
  EXPECT_FALSE(c->agent_timeout_minutes);
  EXPECT_EQ(c->work_dir, "/var/tmp/awf-1761074374646");
  EXPECT_FALSE(c->host_access);
  EXPECT_EQ(c->dns_servers, std::vector<std::string>{"10.1.2.3"});
  EXPECT_TRUE(c->dns_servers_detected);
  EXPECT_EQ(notices(*c, Notice::Level::warn),
            std::vector<std::string>{"No allowed domains specified - all network access will be blocked"})
      << "an empty allowlist is one warning, not a debug line as in awf";
  auto info = notices(*c, Notice::Level::info);
  EXPECT_EQ(info.front(), "Auto-detected DNS servers from " + dir_ + "/resolv.conf: 10.1.2.3");
  EXPECT_EQ(info.back(), "Allowed domains: ");
}

TEST_F(Options, CommandStringRules) {
  EXPECT_EQ(parse({"--", "echo $HOME"})->command, "echo $HOME");
  EXPECT_EQ(parse({"--", "sh", "-c", "echo 'hi' && exit 3"})->command, "sh -c 'echo '\\''hi'\\'' && exit 3'");
  EXPECT_EQ(parse({"-d", "a.com", "echo", "x"})->command, "echo x") << "without -- plain words still work";
}

TEST_F(Options, TypedValuesAreCarried) {
  auto c = parse({"-d", "github.com, api.npmjs.org", "-d", "example.com", "--block-domains", "evil.com",
                  "--agent-timeout", "30", "--log-level", "debug", "-e", "A=1", "-e", "B=x=y", "--env-all",
                  "--exclude-env", "SECRET", "-v", "${DATA}/in:/in:ro", "-v", "/tmp:/t", "--dns-servers",
                  "1.1.1.1, 2606:4700:4700::1111", "-k", "--work-dir", "/w", "--proxy-logs-dir", "/logs",
                  "--container-workdir", "/src", "--tty", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, (std::vector<std::string>{"github.com", "api.npmjs.org", "example.com"}));
  EXPECT_EQ(c->policy.block, std::vector<std::string>{"evil.com"});
  EXPECT_EQ(*c->agent_timeout_minutes, 30);
  EXPECT_EQ(c->log_level, LogLevel::debug);
  EXPECT_EQ(c->env.assignments, (EnvPairs{{"A", "1"}, {"B", "x=y"}}));
  EXPECT_TRUE(c->env.env_all);
  EXPECT_EQ(c->env.exclude, std::vector<std::string>{"SECRET"});
  EXPECT_TRUE(c->env.tty);
  ASSERT_EQ(c->mounts.size(), 2u);
  EXPECT_EQ(c->mounts[0].host_path, "/srv/in");
  EXPECT_TRUE(c->mounts[0].read_only);
  EXPECT_EQ(c->dns_servers, (std::vector<std::string>{"1.1.1.1", "2606:4700:4700::1111"}));
  EXPECT_FALSE(c->dns_servers_detected);
  EXPECT_TRUE(c->keep_work_dir);
  EXPECT_EQ(c->work_dir, "/w");
  EXPECT_EQ(c->proxy_logs_dir, "/logs");
  EXPECT_EQ(c->container_workdir, "/src");
  auto warn = notices(*c, Notice::Level::warn);
  EXPECT_EQ(warn[0], "\u26a0\ufe0f  Using --env-all: All host environment variables will be passed to container");
  auto info = notices(*c, Notice::Level::info);
  EXPECT_EQ(info[info.size() - 2], "Allowed domains: github.com, api.npmjs.org, example.com");
  EXPECT_EQ(info.back(), "Blocked domains: evil.com");
}

TEST_F(Options, PolicyIsCompiledWithTheBlocklistWinning) {
  auto c = parse({"-d", "github.com", "--block-domains", "gist.github.com", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->ruleset->decide({"api.github.com", 443, true}).allowed);
  EXPECT_FALSE(c->ruleset->decide({"gist.github.com", 443, true}).allowed);
}

TEST_F(Options, LocalhostKeywordTurnsOnHostAccessWithDevPorts) {
  auto c = parse({"--allow-domains", "localhost,github.com", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, (std::vector<std::string>{"github.com", "host.docker.internal"}));
  EXPECT_TRUE(c->localhost_keyword);
  EXPECT_TRUE(c->host_access);
  EXPECT_EQ(c->allow_host_ports, "3000,3001,4000,4200,5000,5173,8000,8080,8081,8888,9000,9090");
  EXPECT_EQ(c->host_ports.size(), 12u);
  EXPECT_TRUE(c->ruleset->allows_port(5173));
  auto warn = notices(*c, Notice::Level::warn);
  EXPECT_EQ(warn[0],
            "\u26a0\ufe0f  Security warning: localhost keyword enables host access - agent can reach services on your "
            "machine");
  EXPECT_EQ(warn[1], "\u26a0\ufe0f  Host access enabled with host.docker.internal in allowed domains");
}

TEST_F(Options, LocalhostKeywordKeepsSchemeAndExplicitPorts) {
  auto c = parse({"-d", "https://localhost", "--enable-host-access", "--allow-host-ports", "4000-4010", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, std::vector<std::string>{"https://host.docker.internal"});
  EXPECT_EQ(c->allow_host_ports, "4000-4010");
  ASSERT_EQ(c->host_ports.size(), 1u);
  EXPECT_EQ(c->host_ports[0].first, 4000);
  EXPECT_EQ(c->host_ports[0].last, 4010);
  for (const auto& n : c->notices) {
    EXPECT_EQ(n.text.find("automatically enabling host access"), std::string::npos) << "already enabled";
  }
}

TEST_F(Options, LocalhostKeywordRequiresAnExactEntry) {
  auto c = parse({"-d", "localhost.example.com", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_FALSE(c->localhost_keyword);
  EXPECT_FALSE(c->host_access);
}

TEST_F(Options, HostPortsWithHostAccess) {
  auto c = parse({"--enable-host-access", "--allow-host-ports", "3000,9100-9110", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->host_access);
  ASSERT_EQ(c->host_ports.size(), 2u);
  EXPECT_TRUE(c->ruleset->allows_port(9105));
  EXPECT_FALSE(c->ruleset->allows_port(9000));
}

TEST_F(Options, DomainsFileAndRulesetAreMerged) {
  auto domains = write("domains.txt", "# comment\nnpmjs.org, pypi.org\n\ngithub.com # inline\n");
  auto rules = write("rules.yaml", "version: 1\nrules:\n  - domain: crates.io\n");
  auto c = parse({"-d", "github.com", "--allow-domains-file", domains, "--ruleset-file", rules, "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, (std::vector<std::string>{"github.com", "npmjs.org", "pypi.org", "crates.io"}));
}

TEST_F(Options, EnvFileIsRead) {
  auto env = write("agent.env", "A=1\n# c\nB=2\n");
  auto c = parse({"--env-file", env, "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->env.env_file, (EnvPairs{{"A", "1"}, {"B", "2"}}));
}

TEST_F(Options, AuditAndSessionDirsFallBackToTheEnvironment) {
  ctx_.host_env["AWF_AUDIT_DIR"] = "/audit";
  ctx_.host_env["AWF_SESSION_STATE_DIR"] = "/state";
  auto c = parse({"--", "true"});
  EXPECT_EQ(c->audit_dir, "/audit");
  EXPECT_EQ(c->session_state_dir, "/state");
  auto flag = parse({"--audit-dir", "/mine", "--", "true"});
  EXPECT_EQ(flag->audit_dir, "/mine");
}

TEST_F(Options, ConfigFileFillsUnsetFlags) {
  auto cfg = write("awf.json", R"({
    "network": {"allowDomains": ["github.com", "npmjs.org"], "dnsServers": ["9.9.9.9"], "tunnelSniCheck": "off"},
    "container": {"agentTimeout": 15},
    "environment": {"excludeEnv": ["X"]},
    "logging": {"logLevel": "warn"}
  })");
  auto c = parse({"--config", cfg, "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, (std::vector<std::string>{"github.com", "npmjs.org"}));
  EXPECT_EQ(c->dns_servers, std::vector<std::string>{"9.9.9.9"});
  EXPECT_EQ(*c->agent_timeout_minutes, 15);
  EXPECT_EQ(c->env.exclude, std::vector<std::string>{"X"});
  EXPECT_EQ(c->log_level, LogLevel::warn);
  EXPECT_FALSE(c->tunnel_sni_check);
}

TEST_F(Options, CommandLineWinsOverConfigAndValuesReplace) {
  auto cfg = write("awf.yaml",
                   "network:\n  allowDomains: [github.com, npmjs.org]\ncontainer:\n  agentTimeout: 15\n"
                   "logging:\n  logLevel: warn\n");
  auto c = parse({"--config", cfg, "--allow-domains", "example.com", "--agent-timeout", "5", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, std::vector<std::string>{"example.com"}) << "no merge with the config's list";
  EXPECT_EQ(*c->agent_timeout_minutes, 5);
  EXPECT_EQ(c->log_level, LogLevel::warn) << "keys not on the command line still apply";
}

TEST_F(Options, ConfigValuesAreValidatedLikeFlags) {
  auto cfg = write("bad.json", R"({"container": {"agentTimeout": 0}})");
  EXPECT_EQ(error({"--config", cfg, "--", "true"}), "[ERROR] --agent-timeout must be a positive integer (minutes)");
  auto broken = write("broken.json", "{");
  EXPECT_EQ(error({"--config", broken, "--", "true"}),
            "[ERROR] Error loading --config: Failed to parse AWF config from " + broken +
                ": Unexpected end of JSON input");
}

TEST_F(Options, ConfigFromStdin) {
  ctx_.read_stdin = [] { return std::string("network:\n  allowDomains: [from-stdin.com]\n"); };
  auto c = parse({"--config", "-", "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->policy.allow, std::vector<std::string>{"from-stdin.com"});
}

TEST_F(Options, ApiProxyIsOnWithAProviderKeyAndSaysSo) {
  ctx_.host_env["OPENAI_API_KEY"] = "sk-real-key-value";
  auto c = parse({"--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->api_proxy.enabled);
  EXPECT_EQ(c->api_proxy.agent.set.at("OPENAI_BASE_URL"), "http://127.0.0.1:10000");
  const auto info = notices(*c, Notice::Level::info);
  EXPECT_NE(std::find(info.begin(), info.end(),
                      "API proxy: OpenAI (127.0.0.1:10000); awf-proxy holds the credentials, the agent gets "
                      "placeholders"),
            info.end());
  for (const auto& n : c->notices) EXPECT_EQ(n.text.find("sk-real"), std::string::npos) << n.text;

  auto off = parse({"--no-api-proxy", "--", "true"});
  ASSERT_TRUE(off.ok()) << off.message();
  EXPECT_FALSE(off->api_proxy.enabled);
  EXPECT_TRUE(off->api_proxy.agent.set.empty());
  EXPECT_TRUE(parse({"--enable-api-proxy", "--", "true"})->api_proxy.enabled) << "the deprecated flag changes nothing";

  ctx_.host_env.erase("OPENAI_API_KEY");
  auto none = parse({"--", "true"});
  EXPECT_FALSE(none->api_proxy.enabled);
  for (const auto& n : none->notices) EXPECT_EQ(n.text.find("API proxy"), std::string::npos) << n.text;
}

TEST_F(Options, ApiProxyUpstreamFlagsAreAccepted) {
  ctx_.host_env["ANTHROPIC_API_KEY"] = "k";
  auto c = parse({"--anthropic-api-target", "llm-gw.corp.example", "--anthropic-api-base-path", "/anthropic", "--",
                  "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->api_proxy.proxy_env, (Environment{{"ANTHROPIC_API_TARGET", "llm-gw.corp.example"},
                                                 {"ANTHROPIC_API_BASE_PATH", "/anthropic"}}));
  EXPECT_EQ(error({"--anthropic-api-base-path", "/a?b", "--", "true"}).rfind("[ERROR] API proxy: ", 0), 0u);
}

TEST_F(Options, ApiProxyCaCertFromFlagOrConfig) {
  ctx_.host_env["OPENAI_API_KEY"] = "k";
  const auto ca = write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const auto other = write("other.pem", "-----BEGIN CERTIFICATE-----\n");
  auto flag = parse({"--api-proxy-ca-cert", ca, "--", "true"});
  ASSERT_TRUE(flag.ok()) << flag.message();
  EXPECT_EQ(flag->api_proxy.ca_cert, ca);
  EXPECT_EQ(error({"--api-proxy-ca-cert", dir_ + "/missing.pem", "--", "true"}),
            "[ERROR] --api-proxy-ca-cert: cannot read \"" + dir_ +
                "/missing.pem\": No such file or directory (ENOENT, errno 2)");

  const auto cfg = write("awf.json", R"({"apiProxy": {"caCert": ")" + ca + R"("}})");
  EXPECT_EQ(parse({"--config", cfg, "--", "true"})->api_proxy.ca_cert, ca);
  EXPECT_EQ(parse({"--config", cfg, "--api-proxy-ca-cert", other, "--", "true"})->api_proxy.ca_cert, other)
      << "the flag wins";
}

TEST_F(Options, ConfigModelListsReachTheProxysEnvironment) {
  ctx_.host_env["ANTHROPIC_API_KEY"] = "k";
  ctx_.host_env["AWF_ALLOWED_MODELS"] = R"(["old-*"])";
  const auto cfg = write("awf.yaml",
                         "apiProxy:\n  allowedModels: [claude-*]\n  disallowedModels: ['*opus*']\n"
                         "  fallbackModels: [claude-haiku]\n  hostedWeb: {claude: true}\n");
  auto c = parse({"--config", cfg, "--", "true"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->api_proxy.proxy_env,
            (Environment{{"AWF_ALLOWED_MODELS", R"(["claude-*"])"},
                         {"AWF_DISALLOWED_MODELS", R"(["*opus*"])"},
                         {"AWF_FALLBACK_MODELS", R"(["claude-haiku"])"}}))
      << "--config beats a host variable of the same name";
  const auto warn = notices(*c, Notice::Level::warn);
  EXPECT_NE(std::find(warn.begin(), warn.end(), "--config: `apiProxy.hostedWeb` is not used by the native runtime; ignored"),
            warn.end());
}

TEST_F(Options, BadModelListsStopTheStart) {
  ctx_.host_env["OPENAI_API_KEY"] = "k";
  const auto empty = write("empty.json", R"({"apiProxy": {"allowedModels": []}})");
  EXPECT_EQ(error({"--config", empty, "--", "true"}),
            "[ERROR] Error loading --config: Invalid AWF config at " + empty +
                ":\n- /apiProxy/allowedModels must NOT have fewer than 1 items (leave it out for no model restriction)");
  ctx_.host_env["AWF_DISALLOWED_MODELS"] = "not json";
  const auto message = error({"--", "true"});
  EXPECT_EQ(message.rfind("[ERROR] API proxy: AWF_DISALLOWED_MODELS", 0), 0u) << message;
  EXPECT_TRUE(parse({"--no-api-proxy", "--", "true"}).ok()) << "off, the proxy's settings are not read";
}

TEST_F(Options, RegisteredOnTheMainsOwnApp) {
  CLI::App app{"awf"};
  cli::Options opts;
  register_options(app, opts);
  auto* sub = app.add_subcommand("policy", "another engineer's subcommand");
  std::vector<std::string> args = {"true", "--", "github.com", "-d"};
  app.parse(args);
  EXPECT_FALSE(sub->parsed());
  auto c = finalize_options(app, std::move(opts), ctx_);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->command, "true");
  CLI::App app2{"awf"};
  cli::Options opts2;
  register_options(app2, opts2);
  auto* sub2 = app2.add_subcommand("policy", "");
  std::vector<std::string> args2 = {"policy"};
  app2.parse(args2);
  EXPECT_TRUE(sub2->parsed()) << "a subcommand name is not taken as the command";
}

}  // namespace
}  // namespace awf::cli

namespace awf::cli {
namespace {

TEST(PolicyManifestForRun, CarriesDnsHostAccessAndPorts) {
  FinalizeContext ctx;
  ctx.resolv_conf_paths = {"/nonexistent/resolv.conf"};
  auto c = parse_command_line({"-d", "localhost,github.com", "--dns-servers", "1.1.1.1", "--", "true"}, ctx);
  ASSERT_TRUE(c.ok()) << c.message();
  auto m = policy_manifest(*c);
  EXPECT_TRUE(m.host_access_enabled);
  EXPECT_EQ(*m.allow_host_ports, "3000,3001,4000,4200,5000,5173,8000,8080,8081,8888,9000,9090");
  EXPECT_EQ(m.dns_servers, std::vector<std::string>{"1.1.1.1"});
  EXPECT_EQ(m.rules[m.rules.size() - 2].domains, (std::vector<std::string>{".github.com", ".host.docker.internal"}));
}

TEST(CoreEnvironment, AwfValuesForTheAgent) {
  CoreInputs in;
  in.proxy_url = "http://127.0.0.1:3128";
  in.home = "/home/me";
  in.dns_servers = {"1.1.1.1", "8.8.8.8"};
  in.uid = 0;
  in.gid = 1001;
  in.github_path_entries = {"/opt/tool/bin", "/usr/bin"};
  Environment host = {{"PATH", "/usr/bin:/bin:/usr/bin"}, {"GOROOT", "/usr/lib/go"}};
  auto core = core_environment(in, host);
  EXPECT_EQ(core.at("HTTP_PROXY"), "http://127.0.0.1:3128");
  EXPECT_EQ(core.at("http_proxy"), "http://127.0.0.1:3128");
  EXPECT_EQ(core.at("NO_PROXY"), "localhost,127.0.0.1,::1,0.0.0.0");
  EXPECT_EQ(core.at("AWF_HOST_PATH"), "/opt/tool/bin:/usr/bin:/bin");
  EXPECT_EQ(core.at("AWF_GOROOT"), "/usr/lib/go");
  EXPECT_EQ(core.at("NO_COLOR"), "1");
  auto late = late_environment(in);
  EXPECT_EQ(late.at("AWF_DNS_SERVERS"), "1.1.1.1,8.8.8.8");
  EXPECT_EQ(late.at("AWF_USER_UID"), "1000") << "root maps to 1000";
  EXPECT_EQ(late.at("AWF_USER_GID"), "1001");
  EXPECT_EQ(late.at("AWF_WORKDIR"), "/home/me");
  EXPECT_EQ(late.count("AWF_ENABLE_HOST_ACCESS"), 0u);
}

TEST(CoreEnvironment, HomeUnderSudoIsTheInvokingUsers) {
  auto home_of = [](const std::string& user) -> std::optional<std::string> {
    return user == "alice" ? std::optional<std::string>("/home/alice") : std::nullopt;
  };
  EXPECT_EQ(host_home({{"SUDO_USER", "alice"}, {"HOME", "/root"}}, true, home_of), "/home/alice");
  EXPECT_EQ(host_home({{"SUDO_USER", "alice"}, {"HOME", "/home/x"}}, false, home_of), "/home/x");
  EXPECT_EQ(host_home({}, false, home_of), "/root");
}

}  // namespace
}  // namespace awf::cli
