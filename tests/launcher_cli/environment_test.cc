// The agent's environment: sources and precedence.
#include "awf/cli/environment.h"

#include <gtest/gtest.h>

namespace awf::cli {
namespace {

TEST(EnvAssignment, ParsedAsAwfSplitsIt) {
  struct Case {
    const char* why;
    const char* text;
    bool ok;
    const char* key;
    const char* value;
  } cases[] = {
      {"plain", "A=1", true, "A", "1"},
      {"empty value", "A=", true, "A", ""},
      {"value with equals signs", "URL=a=b=c", true, "URL", "a=b=c"},
      {"lower case and dots are accepted", "my.var=x", true, "my.var", "x"},
      {"no equals sign", "JUSTNAME", false, "", ""},
      {"empty name", "=value", false, "", ""},
  };
  for (const auto& c : cases) {
    auto kv = parse_env_assignment(c.text);
    ASSERT_EQ(kv.ok(), c.ok) << c.why;
    if (c.ok) {
      EXPECT_EQ(kv->first, c.key) << c.why;
      EXPECT_EQ(kv->second, c.value) << c.why;
    } else {
      EXPECT_EQ(kv.message(), std::string("Invalid environment variable format: ") + c.text + " (expected KEY=VALUE)");
    }
  }
}

TEST(EnvFile, ValidLinesOnly) {
  auto pairs = parse_env_file(
      "# comment\n"
      "A=1\n"
      "\n"
      "  B=two words  \r\n"
      "1BAD=x\n"
      "bad-name=x\n"
      "noequals\n"
      "C=\"quoted\"\n");
  EXPECT_EQ(pairs, (EnvPairs{{"A", "1"}, {"B", "two words"}, {"C", "\"quoted\""}}));
  EXPECT_EQ(read_env_file("/does/not/exist").message(), "--env-file: file not found: /does/not/exist");
}

Environment host() {
  return {{"HOME", "/home/me"},       {"PATH", "/usr/bin"},        {"USER", "me"},
          {"TERM", "xterm"},          {"SECRET", "s3"},            {"GITHUB_TOKEN", "ghp_x"},
          {"HTTP_PROXY", "http://corp:3128"}, {"SUDO_USER", "root"}, {"GITHUB_SERVER_URL", "https://ghe.corp.com"},
          {"EDITOR", "vim"}};
}

Environment core() {
  return {{"HTTP_PROXY", "http://127.0.0.1:3128"},
          {"HTTPS_PROXY", "http://127.0.0.1:3128"},
          {"NO_PROXY", "localhost,127.0.0.1"},
          {"no_proxy", "localhost,127.0.0.1"},
          {"HOME", "/home/me"},
          {"PATH", "/usr/local/bin:/usr/bin:/bin"}};
}

TEST(AgentEnvironment, WithoutEnvAllOnlyPassthroughVariablesArrive) {
  auto env = build_agent_environment({}, host(), core(), {}).vars;
  EXPECT_EQ(env.at("USER"), "me");
  EXPECT_EQ(env.at("TERM"), "xterm");
  EXPECT_EQ(env.at("GH_HOST"), "ghe.corp.com") << "derived from a non-github.com GITHUB_SERVER_URL";
  EXPECT_EQ(env.count("SECRET"), 0u);
  EXPECT_EQ(env.count("EDITOR"), 0u);
  EXPECT_EQ(env.count("GITHUB_TOKEN"), 0u) << "credentials stay with the host";
  EXPECT_EQ(env.at("HTTP_PROXY"), "http://127.0.0.1:3128");
}

TEST(AgentEnvironment, TtyMeansTermIsNotForwarded) {
  EnvSettings s;
  s.tty = true;
  EXPECT_EQ(build_agent_environment(s, host(), core(), {}).vars.count("TERM"), 0u);
}

TEST(AgentEnvironment, EnvAllCopiesTheRestButNeverExcludedOrCoreValues) {
  EnvSettings s;
  s.env_all = true;
  auto env = build_agent_environment(s, host(), core(), {}).vars;
  EXPECT_EQ(env.at("SECRET"), "s3");
  EXPECT_EQ(env.at("EDITOR"), "vim");
  EXPECT_EQ(env.at("PATH"), "/usr/local/bin:/usr/bin:/bin") << "core PATH wins over the host's";
  EXPECT_EQ(env.at("HTTP_PROXY"), "http://127.0.0.1:3128") << "the host proxy is excluded";
  EXPECT_EQ(env.count("SUDO_USER"), 0u);
  EXPECT_EQ(env.count("GITHUB_TOKEN"), 0u);
}

TEST(AgentEnvironment, ExcludeEnvRemovesFromEnvAllAndPassthrough) {
  EnvSettings s;
  s.env_all = true;
  s.exclude = {"SECRET", "USER"};
  auto env = build_agent_environment(s, host(), core(), {}).vars;
  EXPECT_EQ(env.count("SECRET"), 0u);
  EXPECT_EQ(env.count("USER"), 0u);
}

TEST(AgentEnvironment, OversizedValuesAreSkippedWithAWarning) {
  EnvSettings s;
  s.env_all = true;
  Environment h = host();
  h["HUGE"] = std::string(kEnvValueMaxBytes + 1, 'x');
  auto out = build_agent_environment(s, h, core(), {});
  EXPECT_EQ(out.vars.count("HUGE"), 0u);
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_NE(out.warnings[0].find("HUGE"), std::string::npos);
}

TEST(AgentEnvironment, PrecedenceLateOverEOverCoreOverEnvAllOverEnvFile) {
  EnvSettings s;
  s.env_all = true;
  s.env_file = {{"FROM_FILE", "file"}, {"EDITOR", "file-editor"}, {"SHARED", "file"}, {"HOME", "/file"}};
  s.assignments = {{"SHARED", "flag"}, {"HOME", "/flag"}, {"AWF_DNS_SERVERS", "9.9.9.9"}};
  Environment late = {{"AWF_DNS_SERVERS", "1.1.1.1"}};
  auto env = build_agent_environment(s, host(), core(), late).vars;
  EXPECT_EQ(env.at("FROM_FILE"), "file") << "env-file fills what nobody else set";
  EXPECT_EQ(env.at("EDITOR"), "vim") << "env-all beats env-file";
  EXPECT_EQ(env.at("SHARED"), "flag") << "-e beats env-file";
  EXPECT_EQ(env.at("HOME"), "/flag") << "-e beats the core value";
  EXPECT_EQ(env.at("AWF_DNS_SERVERS"), "1.1.1.1") << "late switches beat -e";
}

TEST(AgentEnvironment, ExcludedNamesFromEAreDroppedExceptProxyVariables) {
  EnvSettings s;
  s.assignments = {{"GITHUB_TOKEN", "ghp_y"}, {"PATH", "/evil"}, {"HTTPS_PROXY", "http://other:8080"},
                   {"NO_PROXY", "internal.corp"}};
  s.exclude = {"MINE"};
  s.assignments.push_back({"MINE", "x"});
  auto env = build_agent_environment(s, host(), core(), {}).vars;
  EXPECT_EQ(env.count("GITHUB_TOKEN"), 0u);
  EXPECT_EQ(env.at("PATH"), "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(env.count("MINE"), 0u) << "--exclude-env applies to -e too";
  EXPECT_EQ(env.at("HTTPS_PROXY"), "http://other:8080");
  EXPECT_EQ(env.at("NO_PROXY"), "internal.corp");
  EXPECT_EQ(env.at("no_proxy"), "internal.corp") << "the other spelling follows";
}

TEST(AgentEnvironment, LowerCaseNoProxyAloneIsCopiedUp) {
  EnvSettings s;
  s.assignments = {{"no_proxy", "a.b"}};
  auto env = build_agent_environment(s, host(), core(), {}).vars;
  EXPECT_EQ(env.at("NO_PROXY"), "a.b");
}

TEST(AgentEnvironment, EnvFileCannotSetExcludedNames) {
  EnvSettings s;
  s.env_file = {{"GITHUB_TOKEN", "x"}, {"HTTP_PROXY", "http://evil:1"}};
  auto env = build_agent_environment(s, {}, core(), {}).vars;
  EXPECT_EQ(env.count("GITHUB_TOKEN"), 0u);
  EXPECT_EQ(env.at("HTTP_PROXY"), "http://127.0.0.1:3128");
}

TEST(AgentEnvironment, FromEnvironArray) {
  char a[] = "A=1";
  char b[] = "B=x=y";
  char c[] = "NOEQUALS";
  char* envp[] = {a, b, c, nullptr};
  auto env = environment_from(envp);
  EXPECT_EQ(env, (Environment{{"A", "1"}, {"B", "x=y"}}));
}

}  // namespace
}  // namespace awf::cli
