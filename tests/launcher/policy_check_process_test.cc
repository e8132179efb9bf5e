// Runs the real `awf policy check` as a process over the vectors of
// awf's domain grammar and checks its output lines and exit codes (0/1/2).
#include <gtest/gtest.h>

#include "awf/testing/files.h"
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory per test for the child's output and input files.
class PolicyCheckProcess : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content) {
    const auto path = tmp_.file(name);
    awf::testing::write_file(path, content);
    return path;
  }

  // `awf policy check <args>`, stdout and stderr captured through files so a
  // chatty child can never block on a full pipe.
  ProcessResult awf(std::vector<std::string> args) {
    args.insert(args.begin(), {AWF_BIN, "policy", "check"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const auto out = dir_ / "stdout", err = dir_ / "stderr";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    ProcessResult run;
    const int rc = posix_spawn(&pid, AWF_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << AWF_BIN;
    if (rc != 0) return run;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = slurp(out);
    run.err = slurp(err);
    return run;
  }

  awf::testing::TempDir tmp_;  // removed with the fixture
  fs::path dir_ = tmp_.path();
};

struct Vector {
  const char* sentence;
  std::vector<std::string> flags;
  const char* target;
  const char* line;  // expected stdout line
};

const Vector kVectors[] = {
    {"#1 plain exact", {"-d", "github.com"}, "github.com:443", "ALLOW CONNECT github.com:443 allowed github.com"},
    {"#2 subdomain", {"-d", "github.com"}, "api.github.com:443", "ALLOW CONNECT api.github.com:443 allowed github.com"},
    {"#3 upper case", {"-d", "github.com"}, "API.GITHUB.COM:443", "ALLOW CONNECT API.GITHUB.COM:443 allowed github.com"},
    {"#4 other name", {"-d", "github.com"}, "example.com:443", "DENY CONNECT example.com:443 not_in_allowlist -"},
    {"#5 lookalike", {"-d", "github.com"}, "notgithub.com:443", "DENY CONNECT notgithub.com:443 not_in_allowlist -"},
    {"#5 lookalike 2", {"-d", "github.com"}, "mygithub.com:443", "DENY CONNECT mygithub.com:443 not_in_allowlist -"},
    {"#6 star-dot", {"-d", "*.github.com"}, "api.github.com:443", "ALLOW CONNECT api.github.com:443 allowed *.github.com"},
    {"#7 star-dot deep", {"-d", "*.github.com"}, "sub.api.github.com:443", "ALLOW CONNECT sub.api.github.com:443 allowed *.github.com"},
    {"#8 star-dot bare", {"-d", "*.github.com"}, "github.com:443", "DENY CONNECT github.com:443 not_in_allowlist -"},
    {"#9 star-dot lookalike", {"-d", "*.github.com"}, "notgithub.com:443", "DENY CONNECT notgithub.com:443 not_in_allowlist -"},
    {"#10 star-dot prefix", {"-d", "*.github.com"}, "github.com.evil.com:443", "DENY CONNECT github.com.evil.com:443 not_in_allowlist -"},
    {"#11 star-dot other", {"-d", "*.github.com"}, "example.com:443", "DENY CONNECT example.com:443 not_in_allowlist -"},
    {"#12 pattern case", {"-d", "*.GitHub.COM"}, "API.GITHUB.COM:443", "ALLOW CONNECT API.GITHUB.COM:443 allowed *.GitHub.COM"},
    {"#13 inner star", {"-d", "api-*.example.com"}, "api-v1.example.com:443", "ALLOW CONNECT api-v1.example.com:443 allowed api-*.example.com"},
    {"#13 inner star 2", {"-d", "api-*.example.com"}, "api-test.example.com:443", "ALLOW CONNECT api-test.example.com:443 allowed api-*.example.com"},
    {"#14 empty star", {"-d", "api-*.example.com"}, "api-.example.com:443", "ALLOW CONNECT api-.example.com:443 allowed api-*.example.com"},
    {"#15 inner star miss", {"-d", "api-*.example.com"}, "api.example.com:443", "DENY CONNECT api.example.com:443 not_in_allowlist -"},
    {"#15 inner star sibling", {"-d", "api-*.example.com"}, "other.example.com:443", "DENY CONNECT other.example.com:443 not_in_allowlist -"},
    {"#16 combined", {"-d", "*.githubusercontent.com,github.com"}, "raw.githubusercontent.com:443", "ALLOW CONNECT raw.githubusercontent.com:443 allowed *.githubusercontent.com"},
    {"#17 several patterns", {"-d", "*.github.com,*.gitlab.com,*.bitbucket.org"}, "api.github.com:443", "ALLOW CONNECT api.github.com:443 allowed *.github.com"},
    {"#18 trailing-dot entry", {"-d", "github.com."}, "api.github.com:443", "DENY CONNECT api.github.com:443 not_in_allowlist -"},
    {"#19 trimmed", {"-d", "  github.com  "}, "api.github.com:443", "ALLOW CONNECT api.github.com:443 allowed github.com"},
    {"#20 raw IP", {"-d", "github.com"}, "https://140.82.112.5", "DENY CONNECT https://140.82.112.5 ip_literal -"},
    {"#21 blocked sub", {"-d", "github.com", "--block-domains", "api.github.com"}, "api.github.com:443", "DENY CONNECT api.github.com:443 blocklisted api.github.com"},
    {"#22 parent stays", {"-d", "github.com", "--block-domains", "api.github.com"}, "github.com:443", "ALLOW CONNECT github.com:443 allowed github.com"},
    {"#23 block wins", {"-d", "example.com", "--block-domains", "example.com"}, "example.com:443", "DENY CONNECT example.com:443 blocklisted example.com"},
    {"#24 blocked pattern", {"-d", "github.com", "--block-domains", "*.github.com"}, "api.github.com:443", "DENY CONNECT api.github.com:443 blocklisted *.github.com"},
    {"#25 blocked pattern bare", {"-d", "github.com", "--block-domains", "*.github.com"}, "github.com:443", "ALLOW CONNECT github.com:443 allowed github.com"},
    {"#26 two blocked", {"-d", "github.com,githubusercontent.com", "--block-domains", "api.github.com,raw.githubusercontent.com"}, "raw.githubusercontent.com:443", "DENY CONNECT raw.githubusercontent.com:443 blocklisted raw.githubusercontent.com"},
    {"#27 block prefix, HTTPS", {"-d", "github.com", "--block-domains", "https://internal.github.com"}, "internal.github.com:443", "DENY CONNECT internal.github.com:443 blocklisted https://internal.github.com"},
    {"#27 block prefix, HTTP", {"-d", "github.com", "--block-domains", "https://internal.github.com"}, "http://internal.github.com/", "DENY GET http://internal.github.com/ blocklisted https://internal.github.com"},
    {"#28 empty allowlist", {}, "example.com:443", "DENY CONNECT example.com:443 empty_allowlist -"},
    {"#28 empty allowlist HTTP", {}, "http://httpbin.org/get", "DENY GET http://httpbin.org/get empty_allowlist -"},
    {"#29 port 22", {"-d", "github.com"}, "github.com:22", "DENY CONNECT github.com:22 port_not_allowed -"},
    {"#29 port 8443", {"-d", "github.com"}, "github.com:8443", "DENY CONNECT github.com:8443 port_not_allowed -"},
    {"#30a http scope GET", {"-d", "http://github.com"}, "http://github.com/", "ALLOW GET http://github.com/ allowed http://github.com"},
    {"#30b http scope CONNECT", {"-d", "http://github.com"}, "github.com:443", "DENY CONNECT github.com:443 scope_mismatch http://github.com"},
    {"#31a https scope CONNECT", {"-d", "https://api.github.com"}, "api.github.com:443", "ALLOW CONNECT api.github.com:443 allowed https://api.github.com"},
    {"#31b https scope GET", {"-d", "https://api.github.com"}, "http://api.github.com/", "DENY GET http://api.github.com/ scope_mismatch https://api.github.com"},
    {"#32 port entry inert", {"-d", "example.com:8080"}, "example.com:443", "DENY CONNECT example.com:443 not_in_allowlist -"},
    {"#33 TLD", {"-d", "com"}, "anything.com:443", "ALLOW CONNECT anything.com:443 allowed com"},
    {"#34 metadata IP", {"-d", "github.com"}, "http://169.254.169.254/latest/meta-data/", "DENY GET http://169.254.169.254/latest/meta-data/ ip_literal -"},
    {"#34 metadata name", {"-d", "github.com"}, "http://metadata.google.internal/", "DENY GET http://metadata.google.internal/ not_in_allowlist -"},
    {"#35 DoH", {"-d", "github.com"}, "https://cloudflare-dns.com/dns-query", "DENY CONNECT https://cloudflare-dns.com/dns-query not_in_allowlist -"},
    {"#35 DoH 2", {"-d", "github.com"}, "https://dns.google/dns-query", "DENY CONNECT https://dns.google/dns-query not_in_allowlist -"},
    {"#40 SSH", {"-d", "github.com"}, "github.com:22", "DENY CONNECT github.com:22 port_not_allowed -"},
    {"#40 IPv6 literal", {"-d", "github.com"}, "[2606:50c0:8000::154]:443", "DENY CONNECT [2606:50c0:8000::154]:443 ip_literal -"},
};

TEST_F(PolicyCheckProcess, AnswersEveryVectorOfSection26WithItsExitCode) {
  for (const auto& v : kVectors) {
    auto args = v.flags;
    args.push_back(v.target);
    const ProcessResult r = awf(args);
    const bool allowed = std::string(v.line).starts_with("ALLOW");
    EXPECT_EQ(r.exit_code, allowed ? 0 : 1) << v.sentence << "\n" << r.err;
    EXPECT_EQ(r.out, std::string(v.line) + "\n") << v.sentence;
  }
}

TEST_F(PolicyCheckProcess, SeveralTargetsGiveOneLineEachAndExitOneIfAnyIsDenied) {
  const ProcessResult r = awf({"-d", "github.com", "--block-domains", "gist.github.com", "github.com", "http://github.com/x",
                     "gist.github.com:443", "--method", "CONNECT"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            "ALLOW CONNECT github.com allowed github.com\n"
            "ALLOW CONNECT http://github.com/x allowed github.com\n"
            "DENY CONNECT gist.github.com:443 blocklisted gist.github.com\n");
}

TEST_F(PolicyCheckProcess, InvalidEntriesExitTwoWithAwfsMessage) {
  struct Bad {
    std::vector<std::string> args;
    const char* message;
  };
  const Bad cases[] = {
      {{"-d", "*", "x.com"}, "Invalid domain or pattern: Pattern '*' matches all domains and is not allowed"},
      {{"-d", "*.*", "x.com"}, "Invalid domain or pattern: Pattern '*.*' is too broad and is not allowed"},
      {{"-d", "*.*.com", "x.com"}, "Invalid domain or pattern: Pattern '*.*.com' has too many wildcard segments and is not allowed"},
      {{"-d", "github..com", "x.com"}, "Invalid domain or pattern: Invalid domain 'github..com': contains double dots"},
      {{"-d", "a.com", "--block-domains", "http://", "x.com"}, "Invalid blocked domain or pattern: Domain cannot be empty"},
      {{"-d", "evil.com;rm", "x.com"}, "Invalid domain or pattern: Invalid domain \"evil.com;rm\": contains invalid character ';'"},
      {{"-d", "a.com", "--allow-host-ports", "3000", "x.com"}, "--allow-host-ports requires --enable-host-access to be set"},
      {{"-d", "a.com", "--enable-host-access", "--allow-host-ports", "22", "x.com"}, "Port 22 is blocked for security reasons."},
      {{"-d", "a.com", "--enable-host-access", "--allow-host-ports", "080", "x.com"}, "Invalid port: 080. Must be a number between 1 and 65535"},
      {{"-d", "a.com", "github.com:99999"}, "Invalid target 'github.com:99999'"},
      {{"-d", "a.com", "--method", "GET", "github.com"}, "Invalid target 'github.com'"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = awf(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "expected: " << c.message << "\ngot: " << r.err;
  }
  const ProcessResult usage = awf({"-d", "a.com"});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(PolicyCheckProcess, ExtraPortsNeedHostAccessAndThenOpen) {
  const ProcessResult r = awf({"-d", "host.docker.internal", "--enable-host-access", "--allow-host-ports", "3000-3001",
                     "host.docker.internal:3001", "host.docker.internal:3002"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "ALLOW CONNECT host.docker.internal:3001 allowed host.docker.internal\n"
            "DENY CONNECT host.docker.internal:3002 port_not_allowed -\n");
}

TEST_F(PolicyCheckProcess, FilesAndRulesetsFeedThePolicy) {
  const auto allow = write("allow.txt", "# team list\ngithub.com, npmjs.org\n\n*.pypi.org # python\n");
  const auto block = write("block.txt", "evil.npmjs.org\n");
  const auto rules = write("rules.yaml", "version: 1\nrules:\n  - domain: crates.io\n");
  const ProcessResult r = awf({"--allow-domains-file", allow, "--block-domains-file", block, "--ruleset-file", rules,
                     "api.github.com:443", "files.pypi.org:443", "crates.io:443", "evil.npmjs.org:443"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "ALLOW CONNECT api.github.com:443 allowed github.com\n"
            "ALLOW CONNECT files.pypi.org:443 allowed *.pypi.org\n"
            "ALLOW CONNECT crates.io:443 allowed crates.io\n"
            "DENY CONNECT evil.npmjs.org:443 blocklisted evil.npmjs.org\n");
}

TEST_F(PolicyCheckProcess, BadFilesExitTwoWithAwfsMessages) {
  const auto missing = (dir_ / "missing.txt").string();
  ProcessResult r = awf({"--allow-domains-file", missing, "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Failed to read domains file: Domains file not found: " + missing), std::string::npos) << r.err;
  r = awf({"--block-domains-file", missing, "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Failed to read blocked domains file: Domains file not found: " + missing), std::string::npos)
      << r.err;
  const auto bad_rules = write("bad.yaml", "version: 2\nrules: []\n");
  r = awf({"--ruleset-file", bad_rules, "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Failed to load ruleset file: Unsupported ruleset version 2 in " + bad_rules + " (expected 1)"),
            std::string::npos)
      << r.err;
  const auto bad_entry = write("bad.txt", "ok.com\nevil.com'\n");
  r = awf({"--allow-domains-file", bad_entry, "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Invalid domain or pattern: Invalid domain \"evil.com'\""), std::string::npos) << r.err;
}

TEST_F(PolicyCheckProcess, ConfigFileAppliesWhereNoFlagIsGiven) {
  const auto cfg = write("awf.json", R"({"network": {"allowDomains": ["github.com"], "blockDomains": ["gist.github.com"]}})");
  ProcessResult r = awf({"--config", cfg, "api.github.com", "gist.github.com"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out,
            "ALLOW CONNECT api.github.com allowed github.com\n"
            "DENY CONNECT gist.github.com blocklisted gist.github.com\n");
  // A flag replaces the config's list instead of merging with it.
  r = awf({"--config", cfg, "-d", "example.com", "api.github.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "DENY CONNECT api.github.com not_in_allowlist -\n");
  const auto bad = write("bad.json", R"({"nope": 1})");
  r = awf({"--config", bad, "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Error loading --config: Invalid AWF config at " + bad), std::string::npos) << r.err;
}

TEST_F(PolicyCheckProcess, WarningsGoToStderrAndDoNotChangeTheExitCode) {
  const ProcessResult r = awf({"-d", "github.com,example.com:8080,com", "github.com"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "ALLOW CONNECT github.com allowed github.com\n");
  EXPECT_NE(r.err.find("[WARN] allow-domains: entry 'example.com:8080' carries a port"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[WARN] allow-domains: entry 'com' allows every host"), std::string::npos) << r.err;
}

TEST_F(PolicyCheckProcess, AnUnsupportedSchemeIsNamedAsSuch) {
  // As a target: refused, naming the scheme.
  ProcessResult r = awf({"-d", "a.com", "ftp://files.example.com/pub"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("[ERROR] Invalid target 'ftp://files.example.com/pub': unsupported scheme 'ftp' (only "
                       "http:// and https:// URLs can be checked)"),
            std::string::npos)
      << r.err;
  // As an entry: accepted as awf does, inert, and said so in those words (not
  // as a port and a path, which is what its colon and slashes look like).
  r = awf({"-d", "ftp://files.example.com,github.com", "files.example.com"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "DENY CONNECT files.example.com not_in_allowlist -\n");
  EXPECT_EQ(r.err,
            "[WARN] allow-domains: entry 'ftp://files.example.com' has the unsupported scheme 'ftp': only http:// "
            "and https:// (lower case) are understood, so it matches nothing\n");
}

TEST_F(PolicyCheckProcess, SubdomainsFalseInARulesetIsWarnedAboutAsIgnored) {
  const auto rules = write("exact.yaml", "version: 1\nrules:\n  - domain: api.example.com\n    subdomains: false\n");
  const ProcessResult r = awf({"--ruleset-file", rules, "api.example.com", "v2.api.example.com"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ALLOW CONNECT api.example.com allowed api.example.com\n"
            "ALLOW CONNECT v2.api.example.com allowed api.example.com\n")
      << "ignored means ignored: the subdomain is allowed, as in awf";
  EXPECT_EQ(r.err, "[WARN] ruleset " + rules +
                       ", rule 0 (domain 'api.example.com'): \"subdomains: false\" is ignored: as in awf, an entry "
                       "always matches its subdomains too, and no entry form matches one name alone\n");
}

TEST_F(PolicyCheckProcess, AnUnknownOptionIsNamedWithTheNearestKnownOne) {
  const ProcessResult r = awf({"--alow-domains", "a.com", "a.com"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err, "error: unknown option '--alow-domains'\n(Did you mean --allow-domains?)\n");
}

TEST_F(PolicyCheckProcess, HelpExitsZeroAndDocumentsTheMethodChoice) {
  const ProcessResult r = awf({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("http://URL is GET"), std::string::npos) << r.out;
}

}  // namespace
