// The API proxy's part of a run as awf's CLI decides it: on with a provider
// credential in awf's environment, what awf-proxy is given, and the agent's
// environment: withheld variables, placeholders and base URLs set last,
// NO_PROXY, whatever -e, --env-all and --env-file say.
#include "awf/cli/api_proxy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "awf/api/agent_environment.h"
#include "awf/api/secret.h"
#include "awf/cli/environment.h"

namespace awf::cli {
namespace {

constexpr const char* kRealOpenAi = "sk-proj-REAL0penAiKey-do-not-leak-1234";
constexpr const char* kRealAnthropic = "sk-ant-api03-REALanthropicKey-9876";

Environment core() {
  return {{"HTTP_PROXY", "http://127.0.0.1:3128"}, {"HTTPS_PROXY", "http://127.0.0.1:3128"},
          {"NO_PROXY", "localhost,127.0.0.1,::1,0.0.0.0"}, {"no_proxy", "localhost,127.0.0.1,::1,0.0.0.0"},
          {"HOME", "/home/me"}, {"PATH", "/usr/bin:/bin"}};
}

Environment late() { return {{"AWF_DNS_SERVERS", "127.0.0.1"}}; }

ApiProxySettings resolve(const Environment& host, ApiProxyRequest request = {}) {
  auto s = resolve_api_proxy(request, host);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? *s : ApiProxySettings{};
}

// Every value of `env` that holds `secret`, or any 4-character piece of it.
std::vector<std::string> leaks(const Environment& env, const std::string& secret) {
  std::vector<std::string> out;
  for (const auto& [k, v] : env) {
    for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
      // Pieces shared with the placeholders ("sk-p", "-ke") are not the key's.
      const std::string piece = secret.substr(i, 4);
      if (v.find(piece) != std::string::npos && std::string(api::kOpenAiPlaceholder).find(piece) == std::string::npos &&
          std::string(api::kAnthropicPlaceholder).find(piece) == std::string::npos) {
        out.push_back(k + " holds \"" + piece + "\"");
        break;
      }
    }
  }
  return out;
}

TEST(ApiProxy, OffWithoutAnyProviderCredential) {
  auto s = resolve({{"HOME", "/home/me"}, {"OPENAI_API_KEY", "  "}, {"OPENAI_API_TARGET", "gw.example.com"}});
  EXPECT_FALSE(s.enabled) << "a blank key is no key";
  EXPECT_TRUE(s.configured.empty());
  EXPECT_TRUE(s.agent.set.empty());
  EXPECT_TRUE(s.proxy_env.empty());
}

TEST(ApiProxy, EachProviderCredentialTurnsItOn) {
  struct Case {
    const char* variable;
    api::Provider provider;
  } cases[] = {
      {"OPENAI_API_KEY", api::Provider::openai},         {"ANTHROPIC_API_KEY", api::Provider::anthropic},
      {"COPILOT_GITHUB_TOKEN", api::Provider::copilot},   {"COPILOT_PROVIDER_API_KEY", api::Provider::copilot},
      {"GEMINI_API_KEY", api::Provider::gemini},         {"GOOGLE_API_KEY", api::Provider::vertex},
  };
  for (const auto& c : cases) {
    auto s = resolve({{c.variable, "real-credential-value"}});
    EXPECT_TRUE(s.enabled) << c.variable;
    EXPECT_EQ(s.configured, std::vector<api::Provider>{c.provider}) << c.variable;
  }
  EXPECT_FALSE(resolve({{"GITHUB_TOKEN", "ghp_x"}}).enabled) << "a plain GitHub token is not a Copilot credential";
}

TEST(ApiProxy, NoApiProxyTurnsItOffWithKeysPresent) {
  ApiProxyRequest request;
  request.disabled = true;
  request.allowed_models = std::vector<std::string>{"gpt-5"};
  auto s = resolve({{"OPENAI_API_KEY", kRealOpenAi}}, request);
  EXPECT_FALSE(s.enabled);
  EXPECT_TRUE(s.agent.set.empty());
  EXPECT_TRUE(s.proxy_env.empty());
}

TEST(ApiProxy, FlagsAndModelListsGoToTheProxysEnvironmentNeverTheKey) {
  ApiProxyRequest request;
  request.flags = {{"--openai-api-target", "gw.example.com"}, {"--anthropic-api-base-path", "/anthropic"},
                   {"--openai-auth-header", "X-Gateway-Key"}};
  request.allowed_models = std::vector<std::string>{"gpt-5*", "claude-\"q\""};
  request.disallowed_models = std::vector<std::string>{"*opus*"};
  request.fallback_models = std::vector<std::string>{"gpt-5-mini", "anthropic/claude-\"q\""};
  auto s = resolve({{"OPENAI_API_KEY", kRealOpenAi}, {"OPENAI_API_TARGET", "other.example.com"}}, request);
  ASSERT_TRUE(s.enabled);
  EXPECT_EQ(s.proxy_env, (Environment{{"OPENAI_API_TARGET", "gw.example.com"},
                                      {"ANTHROPIC_API_BASE_PATH", "/anthropic"},
                                      {"AWF_OPENAI_AUTH_HEADER", "X-Gateway-Key"},
                                      {"AWF_ALLOWED_MODELS", R"(["gpt-5*","claude-\"q\""])"},
                                      {"AWF_DISALLOWED_MODELS", R"(["*opus*"])"},
                                      {"AWF_FALLBACK_MODELS", R"(["gpt-5-mini","anthropic/claude-\"q\""])"}}))
      << "the flag beats the host's variable; keys reach the proxy by inheritance only";
}

ApiProxyRequest flags_request(std::map<std::string, std::string> flags) {
  ApiProxyRequest request;
  request.flags = std::move(flags);
  return request;
}

TEST(ApiProxy, SettingsTheProxyWouldRefuseStopAwf) {
  struct Case {
    const char* why;
    Environment host;
    ApiProxyRequest request;
    std::string starts_with;
  } cases[] = {
      {"a key with a line break", {{"OPENAI_API_KEY", "sk-a\nb"}}, {}, "API proxy: OPENAI_API_KEY"},
      {"a malformed model list from the host", {{"OPENAI_API_KEY", "k"}, {"AWF_ALLOWED_MODELS", "gpt-5"}}, {},
       "API proxy: AWF_ALLOWED_MODELS"},
      {"an empty model list from the host", {{"OPENAI_API_KEY", "k"}, {"AWF_DISALLOWED_MODELS", "[]"}}, {},
       "API proxy: AWF_DISALLOWED_MODELS"},
      {"OIDC", {{"OPENAI_API_KEY", "k"}, {"AWF_AUTH_TYPE", "oidc"}}, {}, "API proxy: AWF_AUTH_TYPE"},
      {"a fallback model the policy refuses",
       {{"OPENAI_API_KEY", "k"}, {"AWF_ALLOWED_MODELS", R"(["gpt-5*"])"}, {"AWF_FALLBACK_MODELS", R"(["gpt-4o"])"}},
       {},
       "API proxy: AWF_FALLBACK_MODELS: entry 1 \"gpt-4o\" is refused by the model policy"},
      {"an auth header the proxy manages",
       {{"ANTHROPIC_API_KEY", "k"}},
       flags_request({{"--anthropic-auth-header", "Host"}}),
       "API proxy: AWF_ANTHROPIC_AUTH_HEADER"},
  };
  for (const auto& c : cases) {
    auto r = resolve_api_proxy(c.request, c.host);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.message().rfind(c.starts_with, 0), 0u) << c.why << ": " << r.message();
    EXPECT_NE(r.message().find("--no-api-proxy"), std::string::npos) << c.why << ": the way out is named";
    EXPECT_EQ(r.message().find("sk-a"), std::string::npos) << "never the key";
  }
}

TEST(ApiProxy, AnEmptyModelListIsRefused) {
  ApiProxyRequest request;
  request.allowed_models = std::vector<std::string>{};
  auto r = resolve_api_proxy(request, {{"OPENAI_API_KEY", "k"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "apiProxy.allowedModels: an empty list is not allowed; leave the key out for no model "
                         "restriction");
  request.allowed_models.reset();
  request.fallback_models = std::vector<std::string>{};
  r = resolve_api_proxy(request, {{"OPENAI_API_KEY", "k"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "apiProxy.fallbackModels: an empty list is not allowed; leave the key out for no fallback");
}

TEST(ApiProxy, CaCertMustBeReadableAndIsMadeAbsolute) {
  ApiProxyRequest request;
  request.ca_cert = "/does/not/exist.pem";
  auto missing = resolve_api_proxy(request, {{"OPENAI_API_KEY", "k"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), "--api-proxy-ca-cert: cannot read \"/does/not/exist.pem\": No such file or directory "
                               "(ENOENT, errno 2)");

  char dir[] = "/tmp/awf-api-ca-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::ofstream(std::string(dir) + "/ca.pem") << "-----BEGIN CERTIFICATE-----\n";
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  request.ca_cert = "./ca.pem";
  auto found = resolve_api_proxy(request, {{"OPENAI_API_KEY", "k"}});
  std::filesystem::current_path(cwd);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->ca_cert, std::string(dir) + "/ca.pem");
}

TEST(ApiProxy, AgentGetsExactlyThePlaceholdersAndBaseUrls) {
  const Environment host = {{"HOME", "/home/me"}, {"USER", "me"},
                            {"OPENAI_API_KEY", kRealOpenAi}, {"ANTHROPIC_API_KEY", kRealAnthropic}};
  const auto baseline = build_agent_environment({}, host, core(), late()).vars;
  auto api = resolve(host);
  const auto env = build_agent_environment({}, host, core(), late(), api.agent).vars;

  Environment added;
  for (const auto& [k, v] : env) {
    auto it = baseline.find(k);
    if (it == baseline.end() || it->second != v) added[k] = v;
  }
  EXPECT_EQ(added, (Environment{{"OPENAI_BASE_URL", "http://127.0.0.1:10000"},
                                {"OPENAI_API_KEY", "sk-placeholder-for-api-proxy"},
                                {"CODEX_API_KEY", "sk-placeholder-for-api-proxy"},
                                {"ANTHROPIC_BASE_URL", "http://127.0.0.1:10001"},
                                {"ANTHROPIC_AUTH_TOKEN", "sk-ant-placeholder-key-for-credential-isolation"},
                                {"AWF_API_PROXY_IP", "127.0.0.1"}}))
      << "NO_PROXY already covers 127.0.0.1";
  EXPECT_EQ(env.count("ANTHROPIC_API_KEY"), 0u) << "never set, not even to a placeholder";
  EXPECT_EQ(leaks(env, kRealOpenAi), std::vector<std::string>{});
  EXPECT_EQ(leaks(env, kRealAnthropic), std::vector<std::string>{});
}

TEST(ApiProxy, EveryProviderSetsItsVariables) {
  const Environment host = {{"OPENAI_API_KEY", "a"}, {"ANTHROPIC_API_KEY", "b"}, {"COPILOT_GITHUB_TOKEN", "c"},
                            {"GEMINI_API_KEY", "d"}, {"GOOGLE_API_KEY", "e"}};
  auto api = resolve(host);
  const auto env = build_agent_environment({}, host, core(), late(), api.agent).vars;
  const Environment expected = {{"OPENAI_BASE_URL", "http://127.0.0.1:10000"},
                                {"ANTHROPIC_BASE_URL", "http://127.0.0.1:10001"},
                                {"COPILOT_API_URL", "http://127.0.0.1:10002"},
                                {"COPILOT_PROVIDER_BASE_URL", "http://127.0.0.1:10002"},
                                {"COPILOT_TOKEN", "ghu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                                {"COPILOT_GITHUB_TOKEN", "ghu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                                {"COPILOT_OFFLINE", "true"},
                                {"GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:10003"},
                                {"GEMINI_API_BASE_URL", "http://127.0.0.1:10003"},
                                {"GEMINI_API_KEY", "gemini-api-key-placeholder-for-credential-isolation"},
                                {"GOOGLE_VERTEX_BASE_URL", "http://127.0.0.1:10004"},
                                {"GOOGLE_API_KEY", "google-api-key-placeholder-for-credential-isolation"}};
  for (const auto& [k, v] : expected) {
    ASSERT_EQ(env.count(k), 1u) << k;
    EXPECT_EQ(env.at(k), v) << k;
  }
  EXPECT_EQ(env.count("COPILOT_PROVIDER_API_KEY"), 0u) << "no BYOK key given, none set";
}

TEST(ApiProxy, PlaceholdersWinOverMinusEEnvAllAndEnvFile) {
  const Environment host = {{"OPENAI_API_KEY", kRealOpenAi},
                            {"OPENAI_BASE_URL", "https://api.openai.com/v1"},
                            {"CODEX_API_KEY", "sk-codex-real"}};
  EnvSettings s;
  s.env_all = true;
  s.env_file = {{"OPENAI_BASE_URL", "https://file.example"}, {"OPENAI_API_KEY", "sk-from-file"}};
  s.assignments = {{"OPENAI_API_KEY", "sk-real-from-flag"}, {"OPENAI_BASE_URL", "https://evil.example"},
                   {"AWF_API_PROXY_IP", "10.9.9.9"}};
  auto api = resolve(host);
  auto out = build_agent_environment(s, host, core(), late(), api.agent);
  EXPECT_EQ(out.vars.at("OPENAI_API_KEY"), "sk-placeholder-for-api-proxy");
  EXPECT_EQ(out.vars.at("CODEX_API_KEY"), "sk-placeholder-for-api-proxy");
  EXPECT_EQ(out.vars.at("OPENAI_BASE_URL"), "http://127.0.0.1:10000");
  EXPECT_EQ(out.vars.at("AWF_API_PROXY_IP"), "127.0.0.1");
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0],
            "-e OPENAI_API_KEY: not passed to the agent; awf never gives it credentials (with a provider key in "
            "awf's environment, the API proxy holds it and the agent gets a placeholder)");
  EXPECT_EQ(out.warnings[0].find("sk-real"), std::string::npos) << "the value is not shown";
}

TEST(ApiProxy, WithheldVariablesNeverReachTheAgent) {
  // Every name awf withholds, offered by every source at once, with the API
  // proxy on and off.
  std::vector<std::string> names = api::withheld_variables();
  for (const char* n : {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN",
                        "ACTIONS_RESULTS_URL", "OPENAI_KEY", "CLAUDE_API_KEY", "GH_TOKEN", "GITHUB_TOKEN",
                        "COPILOT_PROVIDER_BASE_URL", "OPENAI_ENDPOINT_OVERRIDE"}) {
    ASSERT_NE(std::find(names.begin(), names.end(), n), names.end()) << n << " is on the list";
  }
  Environment host;
  EnvSettings s;
  s.env_all = true;
  for (const auto& n : names) {
    host[n] = "host-secret-" + n;
    if (n == "COPILOT_PROVIDER_BASE_URL") host[n] = "https://byok-secret-host.example/v1";  // read as a URL
    s.assignments.push_back({n, "flag-secret-" + n});
    s.env_file.push_back({n, "file-secret-" + n});
  }
  host["OPENAI_API_KEY"] = kRealOpenAi;  // turns the proxy on
  for (bool on : {false, true}) {
    ApiProxyRequest request;
    request.disabled = !on;
    auto api = resolve(host, request);
    ASSERT_EQ(api.enabled, on);
    const auto env = build_agent_environment(s, host, core(), late(), api.agent).vars;
    for (const auto& n : names) {
      auto it = env.find(n);
      if (it == env.end()) continue;
      EXPECT_TRUE(on) << n << " reached the agent with the API proxy off";
      EXPECT_EQ(api.agent.set.count(n), 1u) << n << " is set only as the API proxy's value";
      EXPECT_EQ(it->second, api.agent.set.at(n)) << n;
    }
    for (const auto& [k, v] : env) {
      EXPECT_EQ(v.find("-secret-"), std::string::npos) << k << "=" << v << (on ? " (on)" : " (off)");
    }
    EXPECT_EQ(leaks(env, kRealOpenAi), std::vector<std::string>{}) << (on ? "on" : "off");
  }
}

TEST(ApiProxy, WithheldListIsPartOfTheExclusionSet) {
  for (const auto& n : api::withheld_variables()) EXPECT_EQ(excluded_variables().count(n), 1u) << n;
  EXPECT_EQ(excluded_variables().count("AWF_API_PROXY_IP"), 1u) << "a host value must not pose as the proxy's";
}

TEST(ApiProxy, NoProxyCoversTheListenersWhateverMinusESays) {
  const Environment host = {{"ANTHROPIC_API_KEY", kRealAnthropic}};
  auto api = resolve(host);
  EnvSettings s;
  s.assignments = {{"NO_PROXY", "internal.corp"}};
  const auto env = build_agent_environment(s, host, core(), late(), api.agent).vars;
  EXPECT_EQ(env.at("NO_PROXY"), "internal.corp,localhost,127.0.0.1,::1");
  EXPECT_EQ(env.at("no_proxy"), "internal.corp,localhost,127.0.0.1,::1");

  const auto defaults = build_agent_environment({}, host, core(), late(), api.agent).vars;
  EXPECT_EQ(defaults.at("NO_PROXY"), "localhost,127.0.0.1,::1,0.0.0.0") << "nothing repeated";
}

TEST(ApiProxy, WithoutCredentialsTheEnvironmentIsUnchanged) {
  const Environment host = {{"HOME", "/home/me"}, {"USER", "me"}, {"OPENAI_BASE_URL", "https://gw.example/v1"}};
  EnvSettings s;
  s.env_all = true;
  auto api = resolve(host);
  ASSERT_FALSE(api.enabled);
  EXPECT_EQ(build_agent_environment(s, host, core(), late(), api.agent).vars,
            build_agent_environment(s, host, core(), late()).vars);
}

// Anthropic workload identity federation (AWF_AUTH_TYPE=github-oidc with
// AWF_AUTH_PROVIDER=anthropic) is an Anthropic credential: the proxy runs,
// the agent gets the Anthropic base URL and placeholder as with a static
// key, and neither the Actions token request nor awf's OIDC settings reach
// it, whatever --env-all and -e say; awf-proxy keeps them.
TEST(ApiProxy, AnthropicFederationTurnsItOnAndItsVariablesReachTheProxyOnly) {
  const Environment host = {{"AWF_AUTH_TYPE", "github-oidc"},
                            {"AWF_AUTH_PROVIDER", "anthropic"},
                            {"AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "fdrl_01rule"},
                            {"AWF_AUTH_ANTHROPIC_ORGANIZATION_ID", "org-uuid"},
                            {"AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", "svac_01acct"},
                            {"AWF_AUTH_OIDC_AUDIENCE", "https://api.anthropic.com"},
                            {"ACTIONS_ID_TOKEN_REQUEST_URL", "https://pipelines.example/idtoken?api-version=2.0"},
                            {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "Rq7Tk2Zp9Xw4Lm6VbReal"}};
  auto api = resolve(host);
  ASSERT_TRUE(api.enabled);
  EXPECT_EQ(api.configured, std::vector<api::Provider>{api::Provider::anthropic});
  EXPECT_EQ(api.agent.set.at("ANTHROPIC_BASE_URL"), "http://127.0.0.1:10001");
  EXPECT_EQ(api.agent.set.at("ANTHROPIC_AUTH_TOKEN"), api::kAnthropicPlaceholder);
  EXPECT_TRUE(api.proxy_unset.empty()) << "awf-proxy needs the token request";

  EnvSettings s;
  s.env_all = true;
  s.assignments = {{"AWF_AUTH_PROVIDER", "azure"}, {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "flag-value"}};
  const auto env = build_agent_environment(s, host, core(), late(), api.agent).vars;
  for (const auto& [k, v] : host) EXPECT_EQ(env.count(k), 0u) << k << " reached the agent";
  for (const auto& [k, v] : env) EXPECT_EQ(v.find("Rq7Tk2Zp"), std::string::npos) << k;
}

TEST(ApiProxy, ActionsTokenRequestIsRemovedFromTheProxyOutsideOidcMode) {
  const Environment host = {{"OPENAI_API_KEY", kRealOpenAi},
                            {"ACTIONS_ID_TOKEN_REQUEST_URL", "https://pipelines.example/idtoken"},
                            {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "Rq7Tk2Zp9Xw4Lm6VbReal"}};
  const std::vector<std::string> both = {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"};
  EXPECT_EQ(resolve(host).proxy_unset, both);
  EXPECT_EQ(resolve({{"HOME", "/home/me"}}).proxy_unset, both) << "with the API proxy off as well";
  ApiProxyRequest off;
  off.disabled = true;
  Environment oidc = host;
  oidc["AWF_AUTH_TYPE"] = "github-oidc";
  oidc["AWF_AUTH_PROVIDER"] = "anthropic";
  EXPECT_EQ(resolve(oidc, off).proxy_unset, both) << "--no-api-proxy";
}

TEST(ApiProxy, OidcForAzureAwsOrGcpStopsAwfNamingTheProvider) {
  for (const char* provider : {"azure", "aws", "gcp"}) {
    auto r = resolve_api_proxy({}, {{"OPENAI_API_KEY", "k"}, {"AWF_AUTH_TYPE", "github-oidc"},
                                    {"AWF_AUTH_PROVIDER", provider}});
    ASSERT_FALSE(r.ok()) << provider;
    EXPECT_TRUE(r.message().starts_with("API proxy: AWF_AUTH_PROVIDER is \"" + std::string(provider) + "\""))
        << r.message();
    EXPECT_TRUE(r.message().ends_with("(--no-api-proxy runs without the API proxy)")) << r.message();
  }
}

}  // namespace
}  // namespace awf::cli
