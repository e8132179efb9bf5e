// The agent's side: base URLs at the listener address, placeholders only,
// withheld variables, NO_PROXY entries.
#include <gtest/gtest.h>

#include <algorithm>

#include "api_test_support.h"
#include "awf/api/agent_environment.h"

namespace awf::api {
namespace {

using namespace test;

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(AgentEnvironment, ConfiguredProvidersGetBaseUrlsAndPlaceholders) {
  const auto s = settings_from(with(all_keys(), {{"COPILOT_PROVIDER_API_KEY", kByokKey}}));
  const auto env = agent_environment(s, {"127.0.0.1", "/usr/local/bin/get-claude-key.sh"});
  const std::map<std::string, std::string> expected = {
      {"OPENAI_BASE_URL", "http://127.0.0.1:10000"},
      {"OPENAI_API_KEY", "sk-placeholder-for-api-proxy"},
      {"CODEX_API_KEY", "sk-placeholder-for-api-proxy"},
      {"ANTHROPIC_BASE_URL", "http://127.0.0.1:10001"},
      {"ANTHROPIC_AUTH_TOKEN", "sk-ant-placeholder-key-for-credential-isolation"},
      {"CLAUDE_CODE_API_KEY_HELPER", "/usr/local/bin/get-claude-key.sh"},
      {"COPILOT_API_URL", "http://127.0.0.1:10002"},
      {"COPILOT_PROVIDER_BASE_URL", "http://127.0.0.1:10002"},
      {"COPILOT_TOKEN", "ghu_" + std::string(36, 'a')},
      {"COPILOT_GITHUB_TOKEN", "ghu_" + std::string(36, 'a')},
      {"COPILOT_PROVIDER_API_KEY", "ghu_" + std::string(36, 'a')},
      {"COPILOT_OFFLINE", "true"},
      {"GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:10003"},
      {"GEMINI_API_BASE_URL", "http://127.0.0.1:10003"},
      {"GEMINI_API_KEY", "gemini-api-key-placeholder-for-credential-isolation"},
      {"GOOGLE_VERTEX_BASE_URL", "http://127.0.0.1:10004"},
      {"GOOGLE_API_KEY", "google-api-key-placeholder-for-credential-isolation"},
      {"AWF_API_PROXY_IP", "127.0.0.1"},
  };
  EXPECT_EQ(env.set, expected);
  EXPECT_FALSE(env.set.contains("ANTHROPIC_API_KEY")) << "Claude Code would authenticate with it directly";
}

TEST(AgentEnvironment, NoRealCredentialOrUpstreamReachesTheAgent) {
  const auto s = settings_from(with(all_keys(), {{"COPILOT_PROVIDER_API_KEY", kByokKey},
                                                 {"COPILOT_PROVIDER_BASE_URL", "https://byok-secret.example/v1"}}));
  const auto env = agent_environment(s, {});
  for (const auto& [name, value] : env.set) {
    for (const char* secret : {kOpenAiKey, kAnthropicKey, kGeminiKey, kGoogleKey, kGithubToken, kByokKey, "byok-secret"}) {
      EXPECT_EQ(value.find(secret), std::string::npos) << name;
    }
  }
}

TEST(AgentEnvironment, UnconfiguredProvidersAreLeftAlone) {
  const auto env = agent_environment(settings_from({{"ANTHROPIC_API_KEY", kAnthropicKey}}), {});
  EXPECT_TRUE(env.set.contains("ANTHROPIC_BASE_URL"));
  EXPECT_FALSE(env.set.contains("CLAUDE_CODE_API_KEY_HELPER")) << "no helper path given";
  for (const char* name : {"OPENAI_BASE_URL", "OPENAI_API_KEY", "COPILOT_API_URL", "COPILOT_TOKEN",
                           "GEMINI_API_KEY", "GOOGLE_API_KEY"}) {
    EXPECT_FALSE(env.set.contains(name)) << name;
  }
}

TEST(AgentEnvironment, ByokUrlAloneStillRoutesCopilotThroughTheProxy) {
  const auto env = agent_environment(settings_from({{"COPILOT_PROVIDER_BASE_URL", "https://llm.corp.example/v1"}}), {});
  EXPECT_EQ(env.set.at("COPILOT_PROVIDER_BASE_URL"), "http://127.0.0.1:10002");
  EXPECT_FALSE(env.set.contains("COPILOT_PROVIDER_API_KEY")) << "no key given, none claimed";
  EXPECT_FALSE(env.set.contains("COPILOT_GITHUB_TOKEN"));
}

TEST(AgentEnvironment, ResponsesWireApiForGpt5AndO3Families) {
  auto wire = [](const char* model) {
    const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken}, {"COPILOT_MODEL", model}});
    const auto env = agent_environment(s, {});
    return env.set.contains("COPILOT_PROVIDER_WIRE_API") ? env.set.at("COPILOT_PROVIDER_WIRE_API") : "";
  };
  EXPECT_EQ(wire("gpt-5"), "responses");
  EXPECT_EQ(wire("openai/GPT-5.1-codex"), "responses");
  EXPECT_EQ(wire("o3-mini"), "responses");
  EXPECT_EQ(wire("gpt-4.1"), "");
  EXPECT_EQ(wire("o30"), "");
  EXPECT_EQ(wire("claude-sonnet-4"), "");
}

TEST(AgentEnvironment, EveryWithheldVariableIsListed) {
  const auto env = agent_environment(settings_from({}), {});
  for (const char* name :
       {"OPENAI_API_KEY", "OPENAI_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_API_KEY",
        "COPILOT_GITHUB_TOKEN", "COPILOT_PROVIDER_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL",
        "GEMINI_API_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN",
        "GITHUB_API_TOKEN", "GITHUB_PAT", "GH_ACCESS_TOKEN", "OPENAI_ENDPOINT_OVERRIDE", "COPILOT_PROVIDER_BASE_URL",
        "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_RESULTS_URL"}) {
    EXPECT_TRUE(contains(env.withheld, name)) << name;
  }
}

TEST(AgentEnvironment, NoProxyCoversTheListener) {
  EXPECT_EQ(agent_environment(settings_from({}), {"10.0.0.5", ""}).no_proxy,
            (std::vector<std::string>{"localhost", "127.0.0.1", "::1", "10.0.0.5"}));
  EXPECT_EQ(agent_environment(settings_from({}), {}).no_proxy,
            (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
  const auto v6 = agent_environment(settings_from({{"OPENAI_API_KEY", "k"}}), {"::1", ""});
  EXPECT_EQ(v6.set.at("OPENAI_BASE_URL"), "http://[::1]:10000");
}

TEST(AgentEnvironment, KeyHelperPrintsThePlaceholder) {
  EXPECT_EQ(claude_key_helper_script(),
            "#!/bin/sh\n# Prints the placeholder key: the API proxy holds the real one.\necho "
            "sk-ant-placeholder-key-for-credential-isolation\n");
}

}  // namespace
}  // namespace awf::api
