// Provider settings from the environment: credentials, targets, base
// paths, Copilot's host and auth, custom headers, model lists, refusals.
#include <gtest/gtest.h>

#include "api_test_support.h"
#include "awf/api/secret.h"
#include "awf/api/settings.h"

namespace awf::api {
namespace {

using test::settings_from;

std::string error_of(const Environment& env) {
  auto s = read_provider_settings(env);
  EXPECT_FALSE(s.ok());
  return s.ok() ? std::string() : s.message();
}

bool has_warning_with(const ProviderSettings& s, std::string_view text) {
  for (const auto& w : s.warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Secrets, SurroundingWhitespaceAndTrailingNewlineAreTrimmed) {
  const auto s = settings_from({{"OPENAI_API_KEY", "  sk-abc\n"}});
  ASSERT_TRUE(s.at(Provider::openai).key);
  EXPECT_EQ(s.at(Provider::openai).key->reveal(), "sk-abc");
}

TEST(Secrets, LineBreakOrNulInsideIsRefusedNamingTheVariableNotTheValue) {
  for (const std::string& value : {std::string("sk-a\nbcdef"), std::string("sk-a\rbcdef"), std::string("sk-a\0bcdef", 10),
                                  std::string("sk-abcdef\0", 10)}) {
    const std::string message = error_of({{"ANTHROPIC_API_KEY", value}});
    EXPECT_NE(message.find("ANTHROPIC_API_KEY"), std::string::npos) << message;
    EXPECT_EQ(message.find("bcdef"), std::string::npos) << "the value must not be shown: " << message;
  }
}

TEST(Secrets, BearerAndTokenPrefixesAreRemoved) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", "Bearer ghu_x1"}, {"COPILOT_PROVIDER_API_KEY", "token  k2"},
                                {"OPENAI_API_KEY", "bearer\tk3"}});
  EXPECT_EQ(s.at(Provider::copilot).github_token->reveal(), "ghu_x1");
  EXPECT_EQ(s.at(Provider::copilot).key->reveal(), "k2");
  EXPECT_EQ(s.at(Provider::openai).key->reveal(), "k3");
}

TEST(Secrets, APrefixAloneOrAnEmptyValueIsNoCredential) {
  const auto s = settings_from({{"OPENAI_API_KEY", "Bearer "}, {"ANTHROPIC_API_KEY", "  "}});
  EXPECT_FALSE(s.at(Provider::openai).key);
  EXPECT_FALSE(s.at(Provider::anthropic).key);
}

TEST(Secrets, PlaceholdersCountAsAbsent) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", std::string(kCopilotPlaceholder)},
                                {"OPENAI_API_KEY", std::string(kOpenAiPlaceholder)},
                                {"GEMINI_API_KEY", std::string(kGeminiPlaceholder)}});
  EXPECT_FALSE(s.at(Provider::copilot).key);
  EXPECT_FALSE(s.at(Provider::copilot).configured());
  EXPECT_FALSE(s.at(Provider::openai).configured());
  EXPECT_FALSE(s.at(Provider::gemini).configured());
  EXPECT_TRUE(has_warning_with(s, "COPILOT_PROVIDER_API_KEY holds the agent-side placeholder"));
  const auto offline = settings_from({{"COPILOT_PROVIDER_API_KEY", "dummy-byok-key-for-offline-mode"}});
  EXPECT_FALSE(offline.at(Provider::copilot).key);
}

TEST(Secrets, PlaceholderConstantsAreTheDocumentedOnes) {
  EXPECT_EQ(kCopilotPlaceholder, "ghu_" + std::string(36, 'a'));
  EXPECT_EQ(kOpenAiPlaceholder, "sk-placeholder-for-api-proxy");
  EXPECT_EQ(kAnthropicPlaceholder, "sk-ant-placeholder-key-for-credential-isolation");
  EXPECT_EQ(kGeminiPlaceholder, "gemini-api-key-placeholder-for-credential-isolation");
  EXPECT_EQ(kGooglePlaceholder, "google-api-key-placeholder-for-credential-isolation");
  EXPECT_EQ(kOfflineByokPlaceholder, "dummy-byok-key-for-offline-mode");
}

TEST(Targets, UrlShapedTargetIsReducedToItsHostWithAWarningNamingWhatWasDropped) {
  const auto s = settings_from({{"OPENAI_API_KEY", "k"}, {"OPENAI_API_TARGET", "https://user:pw@GW.Example.:8443/a?q=1#f"}});
  EXPECT_EQ(s.at(Provider::openai).host, "gw.example");
  EXPECT_EQ(s.at(Provider::openai).base_path, "") << "the path is not a prefix, and a custom host gets no /v1";
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(s.warnings[0],
            "OPENAI_API_TARGET: using the host \"gw.example\" only; dropped the scheme, user info, port, path, query "
            "and fragment (the upstream is always https://<host>:443; a path prefix belongs in OPENAI_API_BASE_PATH)");
  EXPECT_EQ(s.warnings[0].find("pw"), std::string::npos);
}

TEST(Targets, BareHostGivesNoWarning) {
  const auto s = settings_from({{"ANTHROPIC_API_TARGET", "proxy.corp.example"}});
  EXPECT_EQ(s.at(Provider::anthropic).host, "proxy.corp.example");
  EXPECT_TRUE(s.warnings.empty());
}

TEST(Targets, UnusableTargetsStopTheStart) {
  EXPECT_EQ(error_of({{"GEMINI_API_TARGET", "https://[::1]:443/"}}),
            "GEMINI_API_TARGET: an IPv6 address literal is not supported as an API target; use a host name");
  EXPECT_EQ(error_of({{"VERTEX_API_TARGET", "bad host"}}), "VERTEX_API_TARGET: \"bad host\" is not a host name");
  EXPECT_NE(error_of({{"OPENAI_API_TARGET", "https:///path"}}).find("OPENAI_API_TARGET"), std::string::npos);
}

TEST(Targets, BasePathsAreNormalised) {
  const auto s = settings_from({{"ANTHROPIC_API_BASE_PATH", "p//q/"}, {"GEMINI_API_BASE_PATH", "/"},
                                {"VERTEX_API_BASE_PATH", "/a/../b"}});
  EXPECT_EQ(s.at(Provider::anthropic).base_path, "/p/q");
  EXPECT_EQ(s.at(Provider::gemini).base_path, "");
  EXPECT_EQ(s.at(Provider::vertex).base_path, "/b");
  EXPECT_NE(error_of({{"OPENAI_API_BASE_PATH", "/v1?x=1"}}).find("OPENAI_API_BASE_PATH"), std::string::npos);
}

TEST(Targets, OpenAiGetsAnImplicitV1OnlyOnTheDefaultHost) {
  EXPECT_EQ(settings_from({{"OPENAI_API_KEY", "k"}}).at(Provider::openai).base_path, "/v1");
  EXPECT_EQ(settings_from({{"OPENAI_API_TARGET", "gw.example"}}).at(Provider::openai).base_path, "");
  EXPECT_EQ(settings_from({{"OPENAI_API_BASE_PATH", "/openai"}}).at(Provider::openai).base_path, "/openai");
}

TEST(Copilot, HostFollowsTargetThenServerUrl) {
  EXPECT_EQ(settings_from({}).at(Provider::copilot).host, "api.githubcopilot.com");
  EXPECT_EQ(settings_from({{"GITHUB_SERVER_URL", "https://github.com"}}).at(Provider::copilot).host,
            "api.githubcopilot.com");
  EXPECT_EQ(settings_from({{"GITHUB_SERVER_URL", "https://acme.ghe.com"}}).at(Provider::copilot).host,
            "copilot-api.acme.ghe.com");
  EXPECT_EQ(settings_from({{"GITHUB_SERVER_URL", "https://ghes.corp.example"}}).at(Provider::copilot).host,
            "api.enterprise.githubcopilot.com");
  EXPECT_EQ(settings_from({{"GITHUB_SERVER_URL", "https://acme.ghe.com"},
                           {"COPILOT_API_TARGET", "api.business.githubcopilot.com"}})
                .at(Provider::copilot)
                .host,
            "api.business.githubcopilot.com");
}

TEST(Copilot, ByokBaseUrlGivesHostAndPathWithoutShowingTheHost) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", "k"},
                                {"COPILOT_PROVIDER_BASE_URL", "https://tenant-secret.example:8443/api/v1?x=1"}});
  const auto& c = s.at(Provider::copilot);
  EXPECT_EQ(c.host, "tenant-secret.example");
  EXPECT_EQ(c.base_path, "/api/v1");
  EXPECT_TRUE(c.byok);
  EXPECT_EQ(s.secret_hosts, std::vector<std::string>{"tenant-secret.example"});
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(s.warnings[0], "COPILOT_PROVIDER_BASE_URL: dropped the port and query (the upstream is always https://<host>:443)");
}

TEST(Copilot, GithubTokenAloneWithAByokHostIsNotConfiguredAndWarns) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", "ghu_x"}, {"COPILOT_PROVIDER_BASE_URL", "https://byok.example"}});
  EXPECT_FALSE(s.at(Provider::copilot).configured());
  EXPECT_TRUE(s.copilot_agent_routed) << "the agent still gets the listener, not the real BYOK URL";
  EXPECT_TRUE(has_warning_with(s, "COPILOT_GITHUB_TOKEN is not used"));
  EXPECT_FALSE(has_warning_with(s, "byok.example"));
}

TEST(Copilot, CatalogHosts) {
  EXPECT_TRUE(is_github_catalog_host("api.githubcopilot.com"));
  EXPECT_TRUE(is_github_catalog_host("api.enterprise.githubcopilot.com"));
  EXPECT_TRUE(is_github_catalog_host("copilot-api.acme.ghe.com"));
  EXPECT_FALSE(is_github_catalog_host("evilgithubcopilot.com"));
  EXPECT_FALSE(is_github_catalog_host("api.githubcopilot.com.evil.example"));
  EXPECT_FALSE(is_github_catalog_host("openrouter.ai"));
}

TEST(Copilot, ExtraHeadersNeverSetCredentialHeaders) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", "k"},
                                {"AWF_BYOK_EXTRA_HEADERS", R"({"Authorization":"x","X-Team":"t","x-api-key":"y",
                                   "Proxy-Authorization":"z","X-Goog-Api-Key":"w","Host":"h","X-N":1})"}});
  const auto& extra = s.at(Provider::copilot).extra_headers;
  ASSERT_EQ(extra.size(), 1u);
  EXPECT_EQ(extra[0], (Header{"X-Team", "t"}));
  EXPECT_TRUE(has_warning_with(s, "\"Authorization\" is a header the proxy manages"));
  EXPECT_TRUE(has_warning_with(s, "the value of \"X-N\" must be a string"));
}

TEST(Copilot, MalformedExtraHeadersAreIgnoredWithAWarning) {
  const auto s = settings_from({{"AWF_BYOK_EXTRA_HEADERS", "[1,2]"}});
  EXPECT_TRUE(s.at(Provider::copilot).extra_headers.empty());
  EXPECT_TRUE(has_warning_with(s, "AWF_BYOK_EXTRA_HEADERS: expected a JSON object"));
}

TEST(Copilot, InteractionIdFromTheRunElseARandomOne) {
  EXPECT_EQ(settings_from({{"GITHUB_RUN_ID", "123"}, {"GITHUB_RUN_ATTEMPT", "2"}}).interaction_id, "123-2");
  EXPECT_EQ(settings_from({{"GITHUB_RUN_ID", "123"}}).interaction_id, "123-1");
  const auto a = settings_from({}).interaction_id;
  EXPECT_EQ(a.size(), 36u);
  EXPECT_NE(a, settings_from({}).interaction_id);
  EXPECT_EQ(settings_from({}).integration_id, "agentic-workflows");
  EXPECT_EQ(settings_from({{"COPILOT_INTEGRATION_ID", "my-app"}}).integration_id, "my-app");
}

TEST(Azure, ProviderTypeAzureUsesApiKeyHeaderAndTheByokKeyAndUrl) {
  const auto s = settings_from({{"COPILOT_PROVIDER_TYPE", "Azure"},
                                {"COPILOT_PROVIDER_API_KEY", "azure-key"},
                                {"COPILOT_PROVIDER_BASE_URL", "https://res.openai.azure.com/openai"}});
  const auto& c = s.at(Provider::openai);
  ASSERT_TRUE(c.configured());
  EXPECT_EQ(c.key->reveal(), "azure-key");
  EXPECT_EQ(c.host, "res.openai.azure.com");
  EXPECT_EQ(c.base_path, "/openai");
  EXPECT_EQ(c.auth_header, "api-key");
  EXPECT_EQ(c.auth_style, AuthStyle::raw);
}

TEST(CustomAuthHeader, NamesAHeaderCarryingTheRawKey) {
  const auto s = settings_from({{"OPENAI_API_KEY", "k"}, {"AWF_OPENAI_AUTH_HEADER", "X-Gateway-Key"},
                                {"ANTHROPIC_API_KEY", "k"}, {"AWF_ANTHROPIC_AUTH_HEADER", "Authorization"}});
  EXPECT_EQ(s.at(Provider::openai).auth_header, "x-gateway-key");
  EXPECT_EQ(s.at(Provider::openai).auth_style, AuthStyle::raw);
  EXPECT_EQ(s.at(Provider::anthropic).auth_header, "authorization");
}

TEST(CustomAuthHeader, ManagedOrInvalidNamesAreRefused) {
  EXPECT_EQ(error_of({{"AWF_OPENAI_AUTH_HEADER", "Host"}}),
            "AWF_OPENAI_AUTH_HEADER: \"Host\" cannot carry the credential: the proxy sets or removes that header itself");
  EXPECT_EQ(error_of({{"AWF_ANTHROPIC_AUTH_HEADER", "Bad Header"}}),
            "AWF_ANTHROPIC_AUTH_HEADER: \"Bad Header\" is not a valid HTTP header name");
  EXPECT_NE(error_of({{"AWF_OPENAI_AUTH_HEADER", "X-Forwarded-Key"}}).find("cannot carry"), std::string::npos);
}

TEST(Oidc, AuthTypeOtherThanApiKeyOrGithubOidcIsRefused) {
  // GitHub OIDC itself is federation_test.cc's.
  const std::string message = error_of({{"AWF_AUTH_TYPE", "azure-oidc"}, {"OPENAI_API_KEY", "k"}});
  EXPECT_TRUE(message.starts_with("AWF_AUTH_TYPE is set to \"azure-oidc\"")) << message;
  EXPECT_TRUE(read_provider_settings({{"AWF_AUTH_TYPE", "api-key"}}).ok());
}

TEST(ModelLists, EmptyOrMalformedListsStopTheStart) {
  EXPECT_EQ(error_of({{"AWF_ALLOWED_MODELS", "[]"}}),
            "AWF_ALLOWED_MODELS: the list is empty; unset the variable for no restriction, or name at least one "
            "pattern");
  EXPECT_TRUE(error_of({{"AWF_ALLOWED_MODELS", "gpt-5"}}).starts_with("AWF_ALLOWED_MODELS: not valid JSON"));
  EXPECT_EQ(error_of({{"AWF_DISALLOWED_MODELS", R"({"a":1})"}}),
            "AWF_DISALLOWED_MODELS: expected a JSON array of model name patterns such as [\"gpt-5*\",\"claude-sonnet-*\"]");
  EXPECT_EQ(error_of({{"AWF_DISALLOWED_MODELS", R"(["a",2])"}}), "AWF_DISALLOWED_MODELS: entry 2 is not a string");
  EXPECT_EQ(error_of({{"AWF_ALLOWED_MODELS", R"(["a"," "])"}}), "AWF_ALLOWED_MODELS: entry 2 is empty");
}

TEST(ModelLists, UnsetOrBlankMeansNoRestriction) {
  EXPECT_FALSE(settings_from({}).model_policy.active());
  EXPECT_FALSE(settings_from({{"AWF_ALLOWED_MODELS", "  "}}).model_policy.active());
  const auto s = settings_from({{"AWF_ALLOWED_MODELS", R"(["gpt-5*"])"}});
  ASSERT_TRUE(s.model_policy.allowed);
  EXPECT_EQ(*s.model_policy.allowed, std::vector<std::string>{"gpt-5*"});
}

TEST(Unsupported, AnthropicAutoCacheWarns) {
  EXPECT_TRUE(has_warning_with(settings_from({{"AWF_ANTHROPIC_AUTO_CACHE", "true"}}),
                               "AWF_ANTHROPIC_AUTO_CACHE is not supported"));
}

}  // namespace
}  // namespace awf::api
