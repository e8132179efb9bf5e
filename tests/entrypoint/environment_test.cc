// The command's environment: exclusions, identity, PATH and git's safe.directory.
#include "awf/entrypoint/environment.h"

#include <gtest/gtest.h>

namespace awf::entrypoint {
namespace {

EnvironmentInputs inputs(EnvMap incoming) {
  EnvironmentInputs in;
  in.incoming = std::move(incoming);
  in.identity = Identity{.uid = 1000, .gid = 1000, .name = "runner", .home = "/home/runner", .groups = {1000}};
  in.path.path = "/usr/bin:/bin";
  in.workdir = "/work";
  return in;
}

TEST(Environment, ExcludedVariablesNeverPass) {
  EnvMap out = build_environment(inputs({{"PATH", "/evil"},
                                         {"PWD", "/outside"},
                                         {"OLDPWD", "/x"},
                                         {"SUDO_USER", "admin"},
                                         {"SUDO_UID", "0"},
                                         {"SUDO_PS1", "# "},
                                         {"GITHUB_TOKEN", "ghp_x"},
                                         {"GH_TOKEN", "ghp_y"},
                                         {"ANTHROPIC_API_KEY", "sk"},
                                         {"OPENAI_API_KEY", "sk"},
                                         {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"},
                                         {"AWF_USER_UID", "1000"},
                                         {"AWF_HOST_PATH", "/usr/bin"}}));
  for (const char* key : {"SUDO_USER", "SUDO_UID", "SUDO_PS1", "GITHUB_TOKEN", "GH_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
                          "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWF_USER_UID", "AWF_HOST_PATH", "OLDPWD"}) {
    EXPECT_EQ(out.count(key), 0u) << key;
  }
  EXPECT_EQ(out.at("PATH"), "/usr/bin:/bin");
  EXPECT_EQ(out.at("PWD"), "/work");
}

TEST(Environment, ProxyVariablesFromTheLauncherPass) {
  EnvMap out = build_environment(inputs({{"HTTP_PROXY", "http://127.0.0.1:3128"},
                                         {"https_proxy", "http://127.0.0.1:3128"},
                                         {"NO_PROXY", "localhost"},
                                         {"TERM", "xterm"}}));
  EXPECT_EQ(out.at("HTTP_PROXY"), "http://127.0.0.1:3128");
  EXPECT_EQ(out.at("https_proxy"), "http://127.0.0.1:3128");
  EXPECT_EQ(out.at("NO_PROXY"), "localhost");
  EXPECT_EQ(out.at("TERM"), "xterm");
}

TEST(Environment, KeepEnvLetsAnExcludedVariableThroughButNeverPath) {
  EnvironmentInputs in = inputs({{"GITHUB_TOKEN", "ghp_x"}, {"PATH", "/evil"}});
  in.keep = {"GITHUB_TOKEN", "PATH"};
  EnvMap out = build_environment(in);
  EXPECT_EQ(out.at("GITHUB_TOKEN"), "ghp_x");
  EXPECT_EQ(out.at("PATH"), "/usr/bin:/bin");
}

TEST(Environment, ExcludeEnvDropsMore) {
  EnvironmentInputs in = inputs({{"MY_SECRET", "x"}, {"KEEP_ME", "y"}});
  in.exclude = {"MY_SECRET"};
  EnvMap out = build_environment(in);
  EXPECT_EQ(out.count("MY_SECRET"), 0u);
  EXPECT_EQ(out.at("KEEP_ME"), "y");
}

TEST(Environment, IdentityVariablesAreSet) {
  EnvMap out = build_environment(inputs({{"HOME", "/root"}, {"USER", "root"}}));
  EXPECT_EQ(out.at("HOME"), "/home/runner");
  EXPECT_EQ(out.at("USER"), "runner");
  EXPECT_EQ(out.at("LOGNAME"), "runner");
}

TEST(Environment, IdentityUserOverrideRenamesUserAndLogname) {
  EnvironmentInputs in = inputs({});
  in.user_override = "someone";
  EnvMap out = build_environment(in);
  EXPECT_EQ(out.at("USER"), "someone");
  EXPECT_EQ(out.at("LOGNAME"), "someone");
}

TEST(Environment, PathExportsAreApplied) {
  EnvironmentInputs in = inputs({{"GOROOT", "/outside"}});
  in.path.exports = {{"GOROOT", "/go"}};
  EXPECT_EQ(build_environment(in).at("GOROOT"), "/go");
}

TEST(Environment, GitSafeDirectoryIsConfiguredThroughTheEnvironment) {
  EnvMap out = build_environment(inputs({}));
  EXPECT_EQ(out.at("GIT_CONFIG_COUNT"), "1");
  EXPECT_EQ(out.at("GIT_CONFIG_KEY_0"), "safe.directory");
  EXPECT_EQ(out.at("GIT_CONFIG_VALUE_0"), "*");
}

TEST(Environment, GitSafeDirectoryIsAppendedAfterExistingConfig) {
  EnvMap out = build_environment(inputs({{"GIT_CONFIG_COUNT", "2"},
                                         {"GIT_CONFIG_KEY_0", "a.b"},
                                         {"GIT_CONFIG_VALUE_0", "1"},
                                         {"GIT_CONFIG_KEY_1", "c.d"},
                                         {"GIT_CONFIG_VALUE_1", "2"}}));
  EXPECT_EQ(out.at("GIT_CONFIG_COUNT"), "3");
  EXPECT_EQ(out.at("GIT_CONFIG_KEY_0"), "a.b");
  EXPECT_EQ(out.at("GIT_CONFIG_KEY_2"), "safe.directory");
}

TEST(Environment, EnvpIsKeyEqualsValue) {
  EXPECT_EQ(to_envp({{"A", "1"}, {"B", "x=y"}}), (std::vector<std::string>{"A=1", "B=x=y"}));
}

}  // namespace
}  // namespace awf::entrypoint
