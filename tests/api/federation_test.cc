// Anthropic workload identity federation in the core: the settings
// (AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic and what they
// need; other providers refused), the two wire shapes (the Actions token
// request's target, the exchange's body and both answers), the refresh
// time, the rewrite with and without a token, and the redactor learning
// tokens while the proxy runs.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "api_test_support.h"
#include "awf/api/federation.h"
#include "awf/api/redaction.h"
#include "awf/api/rewrite.h"
#include "awf/api/settings.h"

namespace awf::api {
namespace {

using namespace test;
using namespace std::chrono_literals;

constexpr const char* kRequestToken = "Rq7Tk2Zp9Xw4Lm6Vb";
constexpr const char* kAccessToken = "sk-ant-oat01-Fz3Hq8Jn5Kd1";

Environment federation_env() {
  return {{"AWF_AUTH_TYPE", "github-oidc"},
          {"AWF_AUTH_PROVIDER", "anthropic"},
          {"AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "fdrl_01rule"},
          {"AWF_AUTH_ANTHROPIC_ORGANIZATION_ID", "7f0c2a9e-org"},
          {"AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", "svac_01acct"},
          {"ACTIONS_ID_TOKEN_REQUEST_URL",
           "https://pipelines.actions.example/abc/_apis/distributedtask/hubs/Actions/plans/p/jobs/j/idtoken?api-version=2.0"},
          {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", kRequestToken}};
}

std::string error_of(const Environment& env) {
  auto s = read_provider_settings(env);
  EXPECT_FALSE(s.ok());
  return s.ok() ? std::string() : s.message();
}

// --- Settings ----------------------------------------------------------------

TEST(FederationSettings, GithubOidcWithAnthropicConfiguresTheAnthropicListener) {
  const ProviderSettings s = settings_from(federation_env());
  ASSERT_TRUE(s.anthropic_federation);
  const AnthropicFederation& f = *s.anthropic_federation;
  EXPECT_EQ(f.federation_rule_id, "fdrl_01rule");
  EXPECT_EQ(f.organization_id, "7f0c2a9e-org");
  EXPECT_EQ(f.service_account_id, "svac_01acct");
  EXPECT_FALSE(f.workspace_id);
  EXPECT_EQ(f.audience, "https://api.anthropic.com");
  EXPECT_EQ(f.request_token.reveal(), kRequestToken);
  EXPECT_TRUE(f.request_url.tls);
  EXPECT_EQ(f.request_url.host, "pipelines.actions.example");
  EXPECT_EQ(f.request_url.port, 443);
  EXPECT_EQ(f.request_url.target, "/abc/_apis/distributedtask/hubs/Actions/plans/p/jobs/j/idtoken?api-version=2.0");
  EXPECT_EQ(f.token_url.host, "api.anthropic.com");
  EXPECT_EQ(f.token_url.target, "/v1/oauth/token");
  EXPECT_TRUE(f.token_url.tls);

  const ProviderConfig& a = s.at(Provider::anthropic);
  EXPECT_TRUE(a.federated);
  EXPECT_TRUE(a.configured());
  EXPECT_FALSE(a.key);
  EXPECT_EQ(a.auth_header, "authorization");
  EXPECT_FALSE(s.at(Provider::openai).federated);
  EXPECT_FALSE(s.at(Provider::openai).configured());
}

TEST(FederationSettings, OptionalVariablesAndCaseOfTheSwitches) {
  Environment env = with(federation_env(), {{"AWF_AUTH_TYPE", " GitHub-OIDC "},
                                            {"AWF_AUTH_PROVIDER", "Anthropic"},
                                            {"AWF_AUTH_ANTHROPIC_WORKSPACE_ID", "wrkspc_01"},
                                            {"AWF_AUTH_OIDC_AUDIENCE", "https://aud.example/x"},
                                            {"AWF_AUTH_ANTHROPIC_TOKEN_URL", "https://api.anthropic.test:8443/v1/oauth/token"}});
  const ProviderSettings s = settings_from(env);
  ASSERT_TRUE(s.anthropic_federation);
  EXPECT_EQ(s.anthropic_federation->workspace_id, std::optional<std::string>("wrkspc_01"));
  EXPECT_EQ(s.anthropic_federation->audience, "https://aud.example/x");
  EXPECT_EQ(s.anthropic_federation->token_url.host, "api.anthropic.test");
  EXPECT_EQ(s.anthropic_federation->token_url.port, 8443);
  EXPECT_EQ(s.anthropic_federation->token_url.authority(), "api.anthropic.test:8443");
  // A blank workspace is no workspace: it is never sent as "".
  EXPECT_FALSE(settings_from(with(federation_env(), {{"AWF_AUTH_ANTHROPIC_WORKSPACE_ID", "  "}}))
                   .anthropic_federation->workspace_id);
}

TEST(FederationSettings, StaticKeysStayWithoutTheSwitch) {
  for (const char* type : {"", "api-key", "API-KEY"}) {
    Environment env = with(federation_env(), {{"AWF_AUTH_TYPE", type}, {"ANTHROPIC_API_KEY", kAnthropicKey}});
    const ProviderSettings s = settings_from(env);
    EXPECT_FALSE(s.anthropic_federation) << type;
    EXPECT_FALSE(s.at(Provider::anthropic).federated) << type;
    EXPECT_EQ(s.at(Provider::anthropic).auth_header, "x-api-key") << type;
  }
}

TEST(FederationSettings, AStaticAnthropicKeyIsDroppedWithAWarning) {
  const ProviderSettings s = settings_from(with(federation_env(), {{"ANTHROPIC_API_KEY", kAnthropicKey}}));
  EXPECT_FALSE(s.at(Provider::anthropic).key);
  EXPECT_TRUE(s.at(Provider::anthropic).federated);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_TRUE(s.warnings[0].starts_with("ANTHROPIC_API_KEY is not used: AWF_AUTH_TYPE=github-oidc")) << s.warnings[0];
}

TEST(FederationSettings, OtherProvidersAndTypesAreRefusedNamingTheValue) {
  for (const char* provider : {"azure", "aws", "gcp", "openai"}) {
    const std::string message = error_of(with(federation_env(), {{"AWF_AUTH_PROVIDER", provider}}));
    EXPECT_TRUE(message.starts_with("AWF_AUTH_PROVIDER is \"" + std::string(provider) + "\"")) << message;
    EXPECT_NE(message.find("not supported by this build"), std::string::npos) << message;
  }
  EXPECT_NE(error_of(with(federation_env(), {{"AWF_AUTH_PROVIDER", "azure"}})).find("(Azure Entra ID)"),
            std::string::npos);
  EXPECT_EQ(error_of(with(federation_env(), {{"AWF_AUTH_TYPE", "oidc"}})),
            "AWF_AUTH_TYPE is set to \"oidc\": expected \"api-key\" (static keys) or \"github-oidc\" (GitHub "
            "Actions OIDC)");
  EXPECT_TRUE(error_of(with(federation_env(), {{"AWF_AUTH_PROVIDER", ""}}))
                  .starts_with("AWF_AUTH_TYPE=github-oidc needs AWF_AUTH_PROVIDER"));
}

TEST(FederationSettings, EachRequiredVariableIsNamedWhenMissing) {
  for (const char* name : {"AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "AWF_AUTH_ANTHROPIC_ORGANIZATION_ID",
                           "AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", "ACTIONS_ID_TOKEN_REQUEST_URL",
                           "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}) {
    Environment env = federation_env();
    env.erase(name);
    const std::string message = error_of(env);
    EXPECT_TRUE(message.starts_with(std::string(name) + " is not set: ")) << message;
    env[name] = " \t";
    EXPECT_EQ(error_of(env), message) << "blank is unset";
  }
  Environment env = federation_env();
  env.erase("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
  EXPECT_NE(error_of(env).find("permissions: id-token: write"), std::string::npos);
}

TEST(FederationSettings, LineBreaksAreRefusedNamingTheVariableNotTheValue) {
  for (const char* name : {"AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "AWF_AUTH_ANTHROPIC_ORGANIZATION_ID",
                           "AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", "AWF_AUTH_ANTHROPIC_WORKSPACE_ID",
                           "AWF_AUTH_OIDC_AUDIENCE", "ACTIONS_ID_TOKEN_REQUEST_URL",
                           "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWF_AUTH_ANTHROPIC_TOKEN_URL"}) {
    for (const char* inside : {"\n", "\r"}) {
      const std::string value = std::string("https://hidden-piece.example/a") + inside + "b";
      const std::string message = error_of(with(federation_env(), {{name, value}}));
      EXPECT_TRUE(message.starts_with(name)) << message;
      EXPECT_EQ(message.find("hidden-piece"), std::string::npos) << "the value must not be shown: " << message;
    }
  }
}

TEST(FederationSettings, UnusableUrlsAreRefused) {
  EXPECT_EQ(error_of(with(federation_env(), {{"AWF_AUTH_ANTHROPIC_TOKEN_URL", "ftp://x.example/t"}})),
            "AWF_AUTH_ANTHROPIC_TOKEN_URL (\"ftp://x.example/t\"): expected an http:// or https:// URL");
  EXPECT_EQ(error_of(with(federation_env(), {{"AWF_AUTH_ANTHROPIC_TOKEN_URL", "https://x.example:0/t"}})),
            "AWF_AUTH_ANTHROPIC_TOKEN_URL (\"https://x.example:0/t\"): the port must be a number from 1 to 65535");
  EXPECT_EQ(error_of(with(federation_env(), {{"AWF_AUTH_ANTHROPIC_TOKEN_URL", "https://u:p@x.example/t"}})),
            "AWF_AUTH_ANTHROPIC_TOKEN_URL (\"https://u:p@x.example/t\"): user info in the URL is not supported");
  // The Actions URL is not shown, whatever is wrong with it.
  const std::string message =
      error_of(with(federation_env(), {{"ACTIONS_ID_TOKEN_REQUEST_URL", "pipelines.hidden.example/x"}}));
  EXPECT_EQ(message, "ACTIONS_ID_TOKEN_REQUEST_URL: expected an http:// or https:// URL");
}

TEST(FederationSettings, PlainHttpWorksWithAWarning) {
  const ProviderSettings s = settings_from(
      with(federation_env(), {{"ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:8080/idtoken"},
                              {"AWF_AUTH_ANTHROPIC_TOKEN_URL", "http://[::1]:9000"}}));
  ASSERT_TRUE(s.anthropic_federation);
  EXPECT_FALSE(s.anthropic_federation->request_url.tls);
  EXPECT_EQ(s.anthropic_federation->request_url.port, 8080);
  EXPECT_EQ(s.anthropic_federation->token_url.host, "::1");
  EXPECT_EQ(s.anthropic_federation->token_url.target, "/");
  EXPECT_EQ(s.anthropic_federation->token_url.authority(), "[::1]:9000");
  EXPECT_EQ(s.warnings.size(), 2u);
}

TEST(FederationSettings, AuthVariablesListEveryOidcSetting) {
  const auto& names = auth_variables();
  for (const char* n : {"AWF_AUTH_TYPE", "AWF_AUTH_PROVIDER", "AWF_AUTH_OIDC_AUDIENCE",
                        "AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "AWF_AUTH_ANTHROPIC_TOKEN_URL",
                        "AWF_AUTH_AZURE_CLIENT_ID", "AWF_AUTH_AWS_ROLE_ARN", "AWF_AUTH_GCP_SERVICE_ACCOUNT"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
}

// --- Wire shapes ---------------------------------------------------------------

TEST(FederationWire, TokenRequestTargetCarriesTheAudienceOnce) {
  AnthropicFederation f = *settings_from(federation_env()).anthropic_federation;
  EXPECT_EQ(token_request_target(f),
            "/abc/_apis/distributedtask/hubs/Actions/plans/p/jobs/j/idtoken?api-version=2.0&audience="
            "https%3A%2F%2Fapi.anthropic.com");
  f.request_url.target = "/idtoken?audience=old&x=1";
  f.audience = "a b";
  EXPECT_EQ(token_request_target(f), "/idtoken?x=1&audience=a%20b");
  f.request_url.target = "/idtoken";
  EXPECT_EQ(token_request_target(f), "/idtoken?audience=a%20b");
}

TEST(FederationWire, ExchangeBodyIsTheJwtBearerGrant) {
  AnthropicFederation f = *settings_from(federation_env()).anthropic_federation;
  EXPECT_EQ(exchange_body(f, "h.p.s"),
            R"({"grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","assertion":"h.p.s",)"
            R"("federation_rule_id":"fdrl_01rule","organization_id":"7f0c2a9e-org","service_account_id":"svac_01acct"})");
  f.workspace_id = "wrkspc_\"1";
  const auto v = boost::json::parse(exchange_body(f, "h.p.s"));
  EXPECT_EQ(v.at("workspace_id").as_string(), "wrkspc_\"1");
}

TEST(FederationWire, AnswersAreParsedAndCheckedWithoutQuotingThem) {
  auto jwt = parse_token_request_answer(R"({"count":1,"value":"eyJ.a.b"})");
  ASSERT_TRUE(jwt.ok());
  EXPECT_EQ(jwt->reveal(), "eyJ.a.b");
  for (const char* bad : {"", "null", R"({"value":""})", R"({"value":1})", R"({"value":"a\nb"})", "[1]"}) {
    auto r = parse_token_request_answer(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(parse_token_request_answer(R"({"x":"secret-ish"})").message(),
            "the GitHub Actions token request's answer has no \"value\" string");

  auto t = parse_exchange_answer(R"({"access_token":"tok","token_type":"Bearer","expires_in":900})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->access_token.reveal(), "tok");
  EXPECT_EQ(t->lifetime, 900s);
  EXPECT_EQ(parse_exchange_answer(R"({"access_token":"tok"})")->lifetime, 3600s);
  EXPECT_EQ(parse_exchange_answer(R"({"access_token":"tok","expires_in":0})")->lifetime, 3600s);
  EXPECT_EQ(parse_exchange_answer(R"({"access_token":"tok","expires_in":"60"})")->lifetime, 3600s);
  EXPECT_EQ(parse_exchange_answer(R"({"access_token":"tok","expires_in":4.5})")->lifetime, 4s);
  EXPECT_EQ(parse_exchange_answer(R"({"access_token":"tok","expires_in":1e12})")->lifetime, 86400s);
  EXPECT_FALSE(parse_exchange_answer(R"({"error":"invalid_grant"})").ok());
  EXPECT_FALSE(parse_exchange_answer(R"({"access_token":" tok"})").ok());
}

TEST(FederationWire, RefreshAtThreeQuartersOrFiveMinutesBeforeTheEnd) {
  EXPECT_EQ(refresh_delay(3600s), 2700s) << "75 % of an hour";
  EXPECT_EQ(refresh_delay(1000s), 700s) << "300 s before the end";
  EXPECT_EQ(refresh_delay(400s), 100s) << "a quarter at least";
  EXPECT_EQ(refresh_delay(200s), 50s);
  EXPECT_EQ(refresh_delay(2s), 1s) << "never in a loop";
}

// --- The rewrite ---------------------------------------------------------------

TEST(FederationRewrite, BearerTokenNoApiKeyAndTheOAuthBetaOnce) {
  const ProviderSettings s = settings_from(federation_env());
  const Secret token(kAccessToken);
  const auto up = upstream(rewrite_request(
      s, Provider::anthropic,
      request("POST", "/v1/messages",
              {{"x-api-key", "sk-ant-placeholder"}, {"Authorization", "Bearer agent"},
               {"anthropic-beta", "b1, oauth-2025-04-20"}, {"Anthropic-Beta", "b2,b1"}},
              R"({"model":"claude-x"})"),
      &token));
  EXPECT_EQ(header_values(up.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kAccessToken});
  EXPECT_TRUE(header_values(up.headers, "x-api-key").empty());
  EXPECT_EQ(header_values(up.headers, "anthropic-beta"), std::vector<std::string>{"b1,oauth-2025-04-20,b2"});
  const auto plain = upstream(rewrite_request(s, Provider::anthropic, request("POST", "/v1/messages", {}, "{}"), &token));
  EXPECT_EQ(header_values(plain.headers, "anthropic-beta"), std::vector<std::string>{"oauth-2025-04-20"});
}

TEST(FederationRewrite, StaticKeysGetNoOAuthBeta) {
  const Secret token(kAccessToken);
  const ProviderSettings s = settings_from(all_keys());
  const auto up = upstream(rewrite_request(s, Provider::anthropic, request("POST", "/v1/messages", {}, "{}"), &token));
  EXPECT_TRUE(header_values(up.headers, "anthropic-beta").empty());
  EXPECT_EQ(header_values(up.headers, "x-api-key"), std::vector<std::string>{kAnthropicKey});
}

TEST(FederationRewrite, WithoutATokenRequestsGet503RetryableAndNothingGoesUp) {
  const ProviderSettings s = settings_from(federation_env());
  const auto r = local(rewrite_request(s, Provider::anthropic,
                                       request("POST", "/v1/messages", {{"X-Request-ID", "req-7"}}, "{}")));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(*find_header(r.headers, "X-Request-ID"), "req-7");
  const auto body = boost::json::parse(r.body);
  EXPECT_EQ(body.at("error").at("type").as_string(), "provider_not_configured");
  EXPECT_EQ(body.at("error").at("provider").as_string(), "anthropic");
  EXPECT_EQ(body.at("error").at("port").as_int64(), 10001);
  EXPECT_EQ(body.at("error").at("retryable").as_bool(), true);
  EXPECT_NE(std::string(body.at("error").at("message").as_string()).find("not available yet"), std::string::npos);

  const auto health = local(rewrite_request(s, Provider::anthropic, request("GET", "/health")));
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(boost::json::parse(health.body).at("status").as_string(), "unavailable");
  const Secret token(kAccessToken);
  EXPECT_EQ(local(rewrite_request(s, Provider::anthropic, request("GET", "/health"), &token)).status, 200);
  // The other listeners do not depend on the token.
  EXPECT_EQ(local(rewrite_request(s, Provider::openai, request("POST", "/v1/x", {}, "{}"))).status, 404);
}

// --- Redaction -------------------------------------------------------------------

TEST(FederationRedaction, RequestTokenAndLearnedTokensAreRedacted) {
  const ProviderSettings s = settings_from(federation_env());
  Redactor r = Redactor::for_settings(s);
  EXPECT_TRUE(r.contains_secret_piece(std::string("x") + std::string(kRequestToken).substr(5, 4)));
  const std::string access(kAccessToken);
  EXPECT_FALSE(r.contains_secret_piece("got " + access.substr(9, 6)));
  const Redactor copy = r;
  r.add_secret(access);
  r.add_secret("ab");
  EXPECT_TRUE(r.contains_secret_piece("got " + access.substr(9, 6)));
  EXPECT_TRUE(copy.contains_secret_piece("got " + access.substr(9, 6))) << "copies share what was learned";
  EXPECT_EQ(r.scrub("token=" + access + ";x=ab"), "token=[REDACTED];x=[REDACTED]");
}

TEST(FederationRedaction, LearningWhileOtherThreadsScrubIsSafe) {
  Redactor r({}, {});
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) (void)r.scrub("nothing secret here Zq8Wm3");
  });
  for (int i = 0; i < 200; ++i) r.add_secret("Zq8Wm3-" + std::to_string(i));
  stop = true;
  reader.join();
  EXPECT_EQ(r.scrub("x Zq8Wm3 y"), "x [REDACTED] y");
}

}  // namespace
}  // namespace awf::api
