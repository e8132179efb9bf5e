// The per-request rewrite: local replies, the target, headers and
// credentials, the body, the model policy and request ids, each asserted on
// the exact request or reply that comes out.
#include <gtest/gtest.h>

#include <regex>

#include "api_test_support.h"
#include "awf/api/rewrite.h"

namespace awf::api {
namespace {

using namespace test;

const ProviderSettings& keys() {
  static const ProviderSettings s = settings_from(all_keys());
  return s;
}

Rewritten send(Provider p, ApiRequest r) { return rewrite_request(keys(), p, std::move(r)); }

bool is_uuid_v4(const std::string& s) {
  static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, re);
}

// --- Local replies -------------------------------------------------------

TEST(Health, ExactGetHealthIsAnsweredLocallyOnEveryPort) {
  const auto openai = local(send(Provider::openai, request("GET", "/health")));
  EXPECT_EQ(openai.status, 200);
  EXPECT_EQ(openai.body,
            R"({"status":"healthy","service":"awf-api-proxy","providers":{"openai":true,"anthropic":true,)"
            R"("copilot":true,"gemini":true,"vertex":true}})");
  const auto anthropic = local(send(Provider::anthropic, request("GET", "/health")));
  EXPECT_EQ(anthropic.status, 200);
  EXPECT_EQ(anthropic.body, R"({"status":"healthy","service":"awf-api-proxy-anthropic"})");
}

TEST(Health, UnconfiguredProviderReports503WithoutSecrets) {
  const auto s = settings_from({{"OPENAI_API_KEY", kOpenAiKey}});
  const auto r = local(rewrite_request(s, Provider::gemini, request("GET", "/health")));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"status":"not_configured","service":"awf-api-proxy-gemini","error":"GEMINI_API_KEY not configured in the API proxy"})");
  const auto all = local(rewrite_request(s, Provider::openai, request("GET", "/health")));
  EXPECT_EQ(all.body.find(kOpenAiKey), std::string::npos);
  EXPECT_NE(all.body.find(R"("openai":true,"anthropic":false)"), std::string::npos);
}

TEST(Health, OnlyTheExactPathAndMethodAreLocal) {
  EXPECT_EQ(upstream(send(Provider::anthropic, request("GET", "/health?x=1"))).target, "/health?x=1");
  EXPECT_EQ(upstream(send(Provider::anthropic, request("POST", "/health"))).target, "/health");
}

TEST(NotConfigured, EachProviderGivesItsOwnReply) {
  const ProviderSettings none = settings_from({});
  struct Case {
    Provider p;
    int status;
    const char* body;
  } cases[] = {
      {Provider::openai, 404,
       R"j({"error":"OpenAI proxy not configured (no OPENAI_API_KEY, or COPILOT_PROVIDER_API_KEY with COPILOT_PROVIDER_TYPE=azure)"})j"},
      {Provider::anthropic, 403,
       R"({"error":{"message":"Credentials for Anthropic (port 10001) are not configured. Set ANTHROPIC_API_KEY to enable this provider.","type":"provider_not_configured","provider":"anthropic","port":10001,"retryable":false}})"},
      {Provider::copilot, 403,
       R"({"error":{"message":"Credentials for GitHub Copilot (port 10002) are not configured. Set COPILOT_GITHUB_TOKEN or COPILOT_PROVIDER_API_KEY to enable this provider.","type":"provider_not_configured","provider":"copilot","port":10002,"retryable":false}})"},
      {Provider::gemini, 503,
       R"({"error":"Gemini proxy not configured (no GEMINI_API_KEY). Set GEMINI_API_KEY in the AWF runner environment to enable credential isolation."})"},
      {Provider::vertex, 503,
       R"({"error":"Vertex AI proxy not configured (no GOOGLE_API_KEY). Set GOOGLE_API_KEY in the AWF runner environment to enable credential isolation."})"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(provider_name(c.p)));
    const auto r = local(rewrite_request(none, c.p, request("POST", "/v1/x", {}, "{}")));
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body, c.body);
    EXPECT_EQ(one(r.headers, "content-type"), "application/json");
  }
}

// --- Target -------------------------------------------------------------

TEST(Target, NonOriginFormIsRefusedWith400AndNothingUpstream) {
  for (const char* target : {"//evil.example/x", "http://evil.example/x", "*", "", "evil.example/x"}) {
    SCOPED_TRACE(target);
    const auto r = local(send(Provider::openai, request("GET", target)));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, R"({"error":"Bad Request","message":"URL must be a relative path"})");
  }
}

TEST(Target, DotSegmentsCannotClimbAboveTheBasePath) {
  const auto s = settings_from(with(all_keys(), {{"ANTHROPIC_API_BASE_PATH", "/p"}}));
  for (const char* target : {"/v1/../../x", "/%2e%2e/x", "/v1/%2E%2e/.%2e/./x", "/../../../x#frag"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(upstream(rewrite_request(s, Provider::anthropic, request("GET", target))).target, "/p/x");
  }
  EXPECT_EQ(upstream(rewrite_request(s, Provider::anthropic, request("GET", "/a/./b/../c?q=/../1#f"))).target,
            "/p/a/c?q=/../1");
  // Without a base path, what is left must not start like `//host`.
  EXPECT_EQ(upstream(send(Provider::anthropic, request("GET", "/a/..//evil.example/x"))).target, "/evil.example/x");
}

TEST(Target, DefaultOpenAiPrefixesV1OnceAndCustomHostsGetNone) {
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/responses"))).target, "/v1/responses");
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions"))).target, "/v1/chat/completions");
  EXPECT_EQ(upstream(send(Provider::openai, request("GET", "/v1"))).target, "/v1");
  EXPECT_EQ(upstream(send(Provider::openai, request("GET", "/v1beta/x"))).target, "/v1/v1beta/x");
  const auto custom = settings_from({{"OPENAI_API_KEY", "k"}, {"OPENAI_API_TARGET", "gw.example"}});
  EXPECT_EQ(upstream(rewrite_request(custom, Provider::openai, request("POST", "/responses"))).target, "/responses");
  EXPECT_EQ(upstream(rewrite_request(custom, Provider::openai, request("POST", "/chat/completions"))).target,
            "/chat/completions");
}

TEST(Target, UrlShapedTargetGoesToItsHostOn443WithoutItsPath) {
  const auto s = settings_from({{"OPENAI_API_KEY", "k"}, {"OPENAI_API_TARGET", "https://gw.example:8443/a"}});
  const auto up = upstream(rewrite_request(s, Provider::openai, request("POST", "/chat/completions")));
  EXPECT_EQ(up.host, "gw.example");
  EXPECT_EQ(up.port, 443);
  EXPECT_EQ(up.target, "/chat/completions");
}

TEST(Target, GeminiKeyQueryParametersAreRemoved) {
  const auto up = upstream(send(Provider::gemini, request("POST", "/v1beta/models/g:streamGenerateContent?key=x&apiKey=y&api_key=z&alt=sse")));
  EXPECT_EQ(up.target, "/v1beta/models/g:streamGenerateContent?alt=sse");
  EXPECT_EQ(one(up.headers, "x-goog-api-key"), kGeminiKey);
  EXPECT_EQ(upstream(send(Provider::gemini, request("GET", "/v1beta/models?k%65y=x"))).target, "/v1beta/models");
  EXPECT_EQ(upstream(send(Provider::vertex, request("GET", "/v1/x?key=x"))).target, "/v1/x?key=x")
      << "Vertex keeps its query";
}

// --- Headers and credentials ----------------------------------------------

TEST(Headers, AgentAuthorizationIsReplacedByTheRealKey) {
  const auto up = upstream(send(Provider::openai, request("POST", "/v1/chat/completions",
                                                          {{"Authorization", "Bearer agent-supplied"},
                                                           {"authorization", "Bearer second"}})));
  EXPECT_EQ(values(up.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kOpenAiKey});
}

TEST(Headers, EachProviderGetsItsOwnKeyHeaderOnly) {
  const std::vector<Header> agent = {{"x-api-key", "x"}, {"X-Goog-Api-Key", "x"}, {"Authorization", "Bearer x"}};
  const auto a = upstream(send(Provider::anthropic, request("POST", "/v1/messages", agent)));
  EXPECT_EQ(values(a.headers, "x-api-key"), std::vector<std::string>{kAnthropicKey});
  EXPECT_TRUE(values(a.headers, "authorization").empty());
  EXPECT_TRUE(values(a.headers, "x-goog-api-key").empty());
  const auto g = upstream(send(Provider::gemini, request("POST", "/v1beta/models/g:generateContent", agent)));
  EXPECT_EQ(values(g.headers, "x-goog-api-key"), std::vector<std::string>{kGeminiKey});
  EXPECT_TRUE(values(g.headers, "x-api-key").empty());
  const auto v = upstream(send(Provider::vertex, request("POST", "/v1/models/g:generateContent", agent)));
  EXPECT_EQ(values(v.headers, "x-goog-api-key"), std::vector<std::string>{kGoogleKey});
}

TEST(Headers, ProxyMetadataNeverReachesUpstreamInAnyCase) {
  const auto up = upstream(send(Provider::openai,
                                request("GET", "/v1/models",
                                        {{"Proxy-Authorization", "Basic x"}, {"FORWARDED", "for=1.2.3.4"},
                                         {"via", "1.1 squid"}, {"X-Forwarded-For", "1.2.3.4"},
                                         {"x-forwarded-host", "evil"}, {"X-FORWARDED-PROTO", "http"},
                                         {"X-Keep", "yes"}})));
  for (const char* name : {"proxy-authorization", "forwarded", "via", "x-forwarded-for", "x-forwarded-host",
                           "x-forwarded-proto"}) {
    EXPECT_TRUE(values(up.headers, name).empty()) << name;
  }
  EXPECT_EQ(one(up.headers, "x-keep"), "yes");
}

TEST(Headers, ClientHostIsIgnored) {
  const auto up = upstream(send(Provider::openai, request("GET", "/v1/models", {{"Host", "evil.example"}})));
  EXPECT_EQ(up.host, "api.openai.com");
  EXPECT_EQ(up.port, 443);
  EXPECT_EQ(up.headers.front(), (Header{"Host", "api.openai.com"}));
  EXPECT_EQ(values(up.headers, "host").size(), 1u);
}

TEST(Headers, HopByHopAndConnectionNamedHeadersAreDropped) {
  const auto up = upstream(send(Provider::openai,
                                request("POST", "/v1/x",
                                        {{"Connection", "keep-alive, X-Secret-Hop"}, {"Keep-Alive", "timeout=5"},
                                         {"TE", "trailers"}, {"Trailer", "x"}, {"Upgrade", "h2c"},
                                         {"Proxy-Connection", "keep-alive"}, {"X-Secret-Hop", "1"},
                                         {"Transfer-Encoding", "chunked"}},
                                        "{}")));
  for (const char* name : {"connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                           "x-secret-hop", "transfer-encoding"}) {
    EXPECT_TRUE(values(up.headers, name).empty()) << name;
  }
  EXPECT_EQ(one(up.headers, "content-length"), "2");
  EXPECT_FALSE(up.websocket);
}

TEST(Headers, CustomAuthHeaderFromTheAgentIsStrippedInAnyCase) {
  const auto s = settings_from({{"OPENAI_API_KEY", kOpenAiKey}, {"AWF_OPENAI_AUTH_HEADER", "X-Gateway-Key"}});
  const auto up = upstream(rewrite_request(s, Provider::openai,
                                           request("GET", "/v1/models",
                                                   {{"x-gateway-key", "agent"}, {"X-GATEWAY-KEY", "agent2"},
                                                    {"Authorization", "Bearer agent"}})));
  EXPECT_EQ(values(up.headers, "x-gateway-key"), std::vector<std::string>{kOpenAiKey});
  EXPECT_TRUE(values(up.headers, "authorization").empty());
}

TEST(Headers, AzureKeyTravelsInApiKey) {
  const auto s = settings_from({{"COPILOT_PROVIDER_TYPE", "azure"}, {"COPILOT_PROVIDER_API_KEY", kByokKey},
                                {"COPILOT_PROVIDER_BASE_URL", "https://res.openai.azure.com/openai"}});
  const auto up = upstream(rewrite_request(s, Provider::openai,
                                           request("POST", "/deployments/d/chat/completions", {{"api-key", "agent"}})));
  EXPECT_EQ(up.host, "res.openai.azure.com");
  EXPECT_EQ(up.target, "/openai/deployments/d/chat/completions");
  EXPECT_EQ(values(up.headers, "api-key"), std::vector<std::string>{kByokKey});
}

TEST(Headers, AcceptEncodingKeepsOnlyCodingsTheProxyReads) {
  auto enc = [](std::vector<Header> h) { return values(upstream(send(Provider::openai, request("GET", "/v1/models", h))).headers, "accept-encoding"); };
  EXPECT_EQ(enc({{"Accept-Encoding", "gzip, zstd;q=1.0, br;q=0.5, compress, identity"}}),
            std::vector<std::string>{"gzip, br;q=0.5, identity"});
  EXPECT_TRUE(enc({{"Accept-Encoding", "zstd"}}).empty());
  EXPECT_EQ(enc({{"accept-encoding", "GZIP"}, {"Accept-Encoding", "deflate"}}),
            std::vector<std::string>{"GZIP, deflate"});
}

TEST(Anthropic, VersionIsAddedOnlyWhenAbsent) {
  EXPECT_EQ(one(upstream(send(Provider::anthropic, request("POST", "/v1/messages"))).headers, "anthropic-version"),
            "2023-06-01");
  EXPECT_EQ(one(upstream(send(Provider::anthropic,
                              request("POST", "/v1/messages", {{"Anthropic-Version", "2024-01-01"}})))
                    .headers,
                "anthropic-version"),
            "2024-01-01");
}

TEST(Anthropic, BetaValuesAreMergedOnceInOrder) {
  const auto up = upstream(send(Provider::anthropic,
                                request("POST", "/v1/messages",
                                        {{"anthropic-beta", "a-1, b-2"}, {"Anthropic-Beta", "b-2,c-3,,a-1"}})));
  EXPECT_EQ(values(up.headers, "anthropic-beta"), std::vector<std::string>{"a-1,b-2,c-3"});
}

// --- Copilot ------------------------------------------------------------

TEST(Copilot, ByokKeyForInferenceGithubTokenForTheCatalogOnGithubHosts) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken}, {"COPILOT_PROVIDER_API_KEY", kByokKey}});
  const auto chat = upstream(rewrite_request(s, Provider::copilot, request("POST", "/chat/completions", {}, "{}")));
  EXPECT_EQ(values(chat.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kByokKey});
  const auto models = upstream(rewrite_request(s, Provider::copilot, request("GET", "/models")));
  EXPECT_EQ(models.host, "api.githubcopilot.com");
  EXPECT_EQ(values(models.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kGithubToken});
  const auto one_model = upstream(rewrite_request(s, Provider::copilot, request("GET", "/models/gpt-5")));
  EXPECT_EQ(one(one_model.headers, "authorization"), std::string("Bearer ") + kGithubToken);
}

TEST(Copilot, GithubTokenIsNeverSentToAByokHost) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken}, {"COPILOT_PROVIDER_API_KEY", kByokKey},
                                {"COPILOT_PROVIDER_BASE_URL", "https://openrouter.example/api/v1"}});
  for (const auto& [method, target] : {std::pair{"GET", "/models"}, std::pair{"POST", "/chat/completions"}}) {
    const auto up = upstream(rewrite_request(s, Provider::copilot, request(method, target)));
    EXPECT_EQ(up.host, "openrouter.example");
    EXPECT_EQ(values(up.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kByokKey});
    for (const auto& h : up.headers) EXPECT_EQ(h.value.find(kGithubToken), std::string::npos) << h.name;
  }
  const auto only_token = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken},
                                         {"COPILOT_PROVIDER_BASE_URL", "https://openrouter.example"}});
  EXPECT_EQ(local(rewrite_request(only_token, Provider::copilot, request("GET", "/models"))).status, 403);
}

TEST(Copilot, ClassicTokenUsesTokenSchemeOnEnterpriseHosts) {
  const auto ghes = settings_from({{"COPILOT_GITHUB_TOKEN", "ghp_classic1"}, {"GITHUB_SERVER_URL", "https://ghes.example"}});
  EXPECT_EQ(one(upstream(rewrite_request(ghes, Provider::copilot, request("POST", "/chat/completions"))).headers,
                "authorization"),
            "token ghp_classic1");
  const auto pat = settings_from({{"COPILOT_GITHUB_TOKEN", "github_pat_fine1"}, {"GITHUB_SERVER_URL", "https://ghes.example"}});
  EXPECT_EQ(one(upstream(rewrite_request(pat, Provider::copilot, request("POST", "/chat/completions"))).headers,
                "authorization"),
            "Bearer github_pat_fine1");
  const auto ghec = settings_from({{"COPILOT_GITHUB_TOKEN", "ghp_classic1"}, {"GITHUB_SERVER_URL", "https://acme.ghe.com"}});
  EXPECT_EQ(one(upstream(rewrite_request(ghec, Provider::copilot, request("POST", "/chat/completions"))).headers,
                "authorization"),
            "Bearer ghp_classic1");
}

TEST(Copilot, GithubHostsGetExactlyOneOfEachCopilotHeader) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken}, {"GITHUB_RUN_ID", "77"},
                                {"COPILOT_INTEGRATION_ID", "my-app"}});
  const auto plain = upstream(rewrite_request(s, Provider::copilot, request("POST", "/chat/completions")));
  EXPECT_EQ(values(plain.headers, "x-interaction-id"), std::vector<std::string>{"77-1"});
  EXPECT_EQ(values(plain.headers, "copilot-integration-id"), std::vector<std::string>{"my-app"});
  EXPECT_EQ(values(plain.headers, "x-initiator"), std::vector<std::string>{"agent"});
  const auto client = upstream(rewrite_request(
      s, Provider::copilot,
      request("POST", "/chat/completions",
              {{"X-Interaction-Id", ""}, {"x-interaction-id", "client-1"}, {"X-Interaction-Id", "client-2"},
               {"Copilot-Integration-Id", "vscode"}, {"copilot-integration-id", "other"}, {"X-Initiator", "user"}})));
  EXPECT_EQ(values(client.headers, "x-interaction-id"), std::vector<std::string>{"client-1"});
  EXPECT_EQ(values(client.headers, "copilot-integration-id"), std::vector<std::string>{"vscode"});
  EXPECT_EQ(values(client.headers, "x-initiator"), std::vector<std::string>{"user"});
}

TEST(Copilot, ByokHostsGetNoCopilotHeadersFromTheProxy) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", kByokKey},
                                {"COPILOT_PROVIDER_BASE_URL", "https://byok.example/v1"}});
  const auto up = upstream(rewrite_request(s, Provider::copilot, request("POST", "/chat/completions")));
  EXPECT_EQ(up.target, "/v1/chat/completions");
  for (const char* name : {"x-interaction-id", "copilot-integration-id", "x-initiator", "x-github-api-version"}) {
    EXPECT_TRUE(values(up.headers, name).empty()) << name;
  }
}

TEST(Copilot, GithubApiVersionByRouteWhenAbsent) {
  const auto s = settings_from({{"COPILOT_GITHUB_TOKEN", kGithubToken}});
  auto version = [&](const char* method, const char* target, std::vector<Header> h = {}) {
    return values(upstream(rewrite_request(s, Provider::copilot, request(method, target, h))).headers,
                  "x-github-api-version");
  };
  EXPECT_EQ(version("POST", "/auto"), std::vector<std::string>{"2026-08-01"});
  EXPECT_EQ(version("POST", "/models/session"), std::vector<std::string>{"2025-07-16"});
  EXPECT_EQ(version("POST", "/models/session/intent"), std::vector<std::string>{"2025-07-16"});
  EXPECT_EQ(version("GET", "/models"), std::vector<std::string>{"2026-07-01"});
  EXPECT_TRUE(version("POST", "/chat/completions").empty());
  EXPECT_EQ(version("GET", "/models", {{"X-GitHub-Api-Version", "2020-01-01"}}), std::vector<std::string>{"2020-01-01"});
}

TEST(Copilot, ByokExtraHeadersAreAddedButNeverCredentials) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", kByokKey},
                                {"COPILOT_PROVIDER_BASE_URL", "https://byok.example"},
                                {"AWF_BYOK_EXTRA_HEADERS", R"({"Authorization":"x","X-Team":"t"})"}});
  const auto up = upstream(rewrite_request(s, Provider::copilot,
                                           request("POST", "/chat/completions", {{"x-team", "agent"}})));
  EXPECT_EQ(values(up.headers, "x-team"), std::vector<std::string>{"t"});
  EXPECT_EQ(values(up.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kByokKey});
}

TEST(Copilot, ByokExtraBodyFieldsNeverOverrideTheClient) {
  const auto s = settings_from({{"COPILOT_PROVIDER_API_KEY", kByokKey},
                                {"AWF_BYOK_EXTRA_BODY_FIELDS", R"({"user":"team-a","tier":"gold"})"}});
  const auto up = upstream(rewrite_request(s, Provider::copilot,
                                           request("POST", "/chat/completions", {}, R"({"model":"m","user":"me"})")));
  EXPECT_EQ(up.body, R"({"model":"m","user":"me","tier":"gold"})");
}

// --- Body ---------------------------------------------------------------

TEST(Body, TheLimitIsExactlyTenMebibytes) {
  const std::string at_limit(kMaxBodyBytes, 'a');
  const auto up = upstream(send(Provider::openai, request("POST", "/v1/files", {}, at_limit)));
  EXPECT_EQ(up.body.size(), 10485760u);
  EXPECT_EQ(one(up.headers, "content-length"), "10485760");
  const auto r = local(send(Provider::openai, request("POST", "/v1/files", {}, at_limit + "a")));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"error":"Payload Too Large","message":"Request body exceeds 10 MB limit"})");
}

TEST(Body, StreamingChatGainsIncludeUsageWithContentLengthFixed) {
  const std::string body = R"({"stream":true,"messages":[]})";
  const auto up = upstream(send(Provider::openai, request("POST", "/v1/chat/completions",
                                                          {{"Content-Length", std::to_string(body.size())}}, body)));
  EXPECT_EQ(up.body, R"({"stream":true,"messages":[],"stream_options":{"include_usage":true}})");
  EXPECT_EQ(values(up.headers, "content-length"), std::vector<std::string>{std::to_string(up.body.size())});
  const auto partial = upstream(send(Provider::copilot, request("POST", "/chat/completions", {},
                                                                R"({"stream":true,"stream_options":{"x":1}})")));
  EXPECT_EQ(partial.body, R"({"stream":true,"stream_options":{"x":1,"include_usage":true}})");
}

TEST(Body, IncludeUsageIsNotAddedWhereTheApiRefusesIt) {
  const std::string body = R"({"stream":true,"messages":[]})";
  for (const char* target : {"/v1/responses", "/v1/messages", "/responses", "/v2/messages"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(upstream(send(Provider::openai, request("POST", target, {}, body))).body, body);
  }
  EXPECT_EQ(upstream(send(Provider::anthropic, request("POST", "/v1/chat/completions", {}, body))).body, body);
  EXPECT_EQ(upstream(send(Provider::gemini, request("POST", "/v1beta/openai/chat/completions", {},
                                                    R"({"model":"g","stream":true,"messages":[]})")))
                .body,
            R"({"model":"g","stream":true,"messages":[]})");
  const std::string input = R"({"stream":true,"input":"hi"})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, input))).body, input);
  const std::string off = R"({"stream":true,"messages":[],"stream_options":{"include_usage":false}})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, off))).body, off);
  const std::string not_true = R"({"stream":"true","messages":[]})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, not_true))).body, not_true);
}

TEST(Body, UnchangedBodiesPassByteForByte) {
  const std::string body = "{ \"model\" : \"gpt-5\",\n \"temperature\": 0.70, \"n\": 1e2 }";
  const auto up = upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, body)));
  EXPECT_EQ(up.body, body);
  EXPECT_EQ(up.model, "gpt-5");
  const std::string not_json = "model=gpt-5";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/x", {}, not_json))).body, not_json);
}

TEST(Body, RewrittenBodiesKeepNumbersAndOrder) {
  const auto up = upstream(send(Provider::openai,
                                request("POST", "/v1/chat/completions", {},
                                        R"({"a":0.7,"model":"openai/gpt-6-sol","b":[1,-2,18446744073709551615,1.5e300],"c":"\u00e9\n"})")));
  EXPECT_EQ(up.body, "{\"a\":0.7,\"model\":\"gpt-6-sol\",\"b\":[1,-2,18446744073709551615,1.5e+300],\"c\":\"\xc3\xa9\\n\"}");
}

TEST(Body, ProviderPrefixIsStrippedOnlyForTheRoutesOwnProvider) {
  const auto own = upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, R"({"model":"OpenAI/gpt-6-sol"})")));
  EXPECT_EQ(own.body, R"({"model":"gpt-6-sol"})");
  EXPECT_EQ(own.model, "gpt-6-sol");
  const std::string other = R"({"model":"anthropic/x"})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, other))).body, other);
  const std::string bare = R"({"model":"openai/"})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, bare))).body, bare);
  EXPECT_EQ(upstream(send(Provider::anthropic, request("POST", "/v1/messages", {}, R"({"model":"anthropic/claude-x"})"))).body,
            R"({"model":"claude-x"})");
}

TEST(Body, GetBodiesAreNotTransformed) {
  const std::string body = R"({"model":"openai/x","stream":true,"messages":[]})";
  EXPECT_EQ(upstream(send(Provider::openai, request("GET", "/v1/x", {}, body))).body, body);
}

// --- Model policy ---------------------------------------------------------

ProviderSettings with_policy(const char* allowed, const char* disallowed) {
  Environment env = all_keys();
  if (allowed) env["AWF_ALLOWED_MODELS"] = allowed;
  if (disallowed) env["AWF_DISALLOWED_MODELS"] = disallowed;
  return settings_from(env);
}

TEST(ModelPolicy, ModelOutsideTheAllowListIs403AndCaseIsIgnored) {
  const auto s = with_policy(R"(["gpt-5.6-sol"])", nullptr);
  const auto r = local(rewrite_request(s, Provider::openai,
                                       request("POST", "/v1/chat/completions", {}, R"({"model":"gpt-5.4"})")));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body,
            R"({"error":{"type":"model_policy_violation","message":"Model \"gpt-5.4\" is not permitted: it is not in the allowed models list","model":"gpt-5.4","reason":"not_allowed"}})");
  EXPECT_EQ(upstream(rewrite_request(s, Provider::openai,
                                     request("POST", "/v1/chat/completions", {}, R"({"model":"GPT-5.6-SOL"})")))
                .model,
            "GPT-5.6-SOL");
}

TEST(ModelPolicy, DenyBeatsAllowAndAutoNeedsAnExplicitAllow) {
  const auto s = with_policy(R"(["claude-*"])", R"(["*opus*"])");
  const auto denied = local(rewrite_request(s, Provider::anthropic,
                                            request("POST", "/v1/messages", {}, R"({"model":"claude-opus-4"})")));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body,
            R"({"error":{"type":"model_policy_violation","message":"Model \"claude-opus-4\" is not permitted: it matches \"*opus*\" in the disallowed models list","model":"claude-opus-4","reason":"disallowed"}})");
  EXPECT_TRUE(std::holds_alternative<UpstreamRequest>(
      rewrite_request(s, Provider::anthropic, request("POST", "/v1/messages", {}, R"({"model":"claude-sonnet-4"})"))));
  const auto any = with_policy(R"(["*"])", R"(["*opus*"])");
  const auto a = local(rewrite_request(any, Provider::copilot, request("POST", "/chat/completions", {}, R"({"model":"auto"})")));
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.body.find(R"("reason":"dynamic_model_unverifiable")"), std::string::npos);
  const auto named = with_policy(R"(["auto","claude-*"])", R"(["*opus*"])");
  EXPECT_TRUE(std::holds_alternative<UpstreamRequest>(
      rewrite_request(named, Provider::copilot, request("POST", "/chat/completions", {}, R"({"model":"auto"})"))));
}

TEST(ModelPolicy, ThePolicySeesTheModelAfterThePrefixRewrite) {
  const auto deny = with_policy(nullptr, R"(["gpt-6*"])");
  const auto r = local(rewrite_request(deny, Provider::openai,
                                       request("POST", "/v1/chat/completions", {}, R"({"model":"openai/gpt-6-sol"})")));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find(R"("model":"gpt-6-sol","reason":"disallowed")"), std::string::npos);
  const auto allow = with_policy(R"(["gpt-6-sol"])", nullptr);
  const auto up = upstream(rewrite_request(allow, Provider::openai,
                                           request("POST", "/v1/chat/completions", {}, R"({"model":"openai/gpt-6-sol"})")));
  EXPECT_EQ(up.body, R"({"model":"gpt-6-sol"})");
}

TEST(ModelPolicy, RequestsWithoutABodyModelAreUncheckedOutsideGoogle) {
  const auto s = with_policy(R"(["gpt-5*"])", nullptr);
  EXPECT_TRUE(std::holds_alternative<UpstreamRequest>(rewrite_request(s, Provider::openai, request("GET", "/v1/models"))));
}

TEST(ModelPolicy, GoogleModelsComeFromThePathAndAMissingOneFailsClosed) {
  const auto s = with_policy(R"(["gemini-2.5-*"])", nullptr);
  EXPECT_EQ(upstream(rewrite_request(s, Provider::gemini,
                                     request("POST", "/v1beta/models/gemini-2.5-pro:generateContent", {}, "{}")))
                .model,
            "gemini-2.5-pro");
  const auto other = local(rewrite_request(s, Provider::gemini,
                                           request("POST", "/v1beta/models/gemini-3-ultra:generateContent", {}, "{}")));
  EXPECT_NE(other.body.find(R"("model":"gemini-3-ultra","reason":"not_allowed")"), std::string::npos);
  const auto encoded = local(rewrite_request(
      s, Provider::vertex,
      request("POST", "/v1/projects/p/locations/l/publishers/google/models/gemini%2D3-ultra%3AgenerateContent", {}, "{}")));
  EXPECT_NE(encoded.body.find(R"("model":"gemini-3-ultra")"), std::string::npos);
  const auto missing = local(rewrite_request(s, Provider::gemini, request("GET", "/v1beta/models")));
  EXPECT_EQ(missing.status, 403);
  EXPECT_NE(missing.body.find(R"("model":null,"reason":"model_missing")"), std::string::npos);
  const auto two = local(rewrite_request(
      s, Provider::gemini, request("POST", "/v1beta/models/gemini-2.5-pro/models/gemini-3-ultra:generateContent")));
  EXPECT_EQ(two.status, 403);
}

TEST(ModelPolicy, AmbiguousOrUnreadableBodiesAreRefusedWhenAPolicyIsSet) {
  const auto s = with_policy(R"(["gpt-5*"])", nullptr);
  for (const char* body : {R"({"model":"gpt-5","model":"o3-pro"})", R"({"model":["o3"]})", R"({"model":"gpt-5",)",
                           R"({"model":null})"}) {
    SCOPED_TRACE(body);
    const auto r = local(rewrite_request(s, Provider::openai, request("POST", "/v1/chat/completions", {}, body)));
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(r.body.find(R"("reason":"model_unverifiable")"), std::string::npos);
  }
  const std::string duplicate = R"({"model":"gpt-5","model":"o3-pro"})";
  EXPECT_EQ(upstream(send(Provider::openai, request("POST", "/v1/chat/completions", {}, duplicate))).body, duplicate)
      << "without a policy the body passes as it is";
}

TEST(ModelPolicy, WebSocketModelComesFromTheQuery) {
  const auto s = with_policy(R"(["gpt-5*"])", nullptr);
  const std::vector<Header> upgrade = {{"Connection", "Upgrade"}, {"Upgrade", "websocket"},
                                       {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                       {"Sec-WebSocket-Version", "13"}, {"Authorization", "Bearer x"}};
  const auto up = upstream(rewrite_request(s, Provider::openai, request("GET", "/v1/responses?model=gpt-5.1", upgrade)));
  EXPECT_TRUE(up.websocket);
  EXPECT_EQ(up.model, "gpt-5.1");
  EXPECT_EQ(values(up.headers, "authorization"), std::vector<std::string>{std::string("Bearer ") + kOpenAiKey});
  EXPECT_EQ(one(up.headers, "upgrade"), "websocket");
  EXPECT_EQ(one(up.headers, "connection"), "Upgrade");
  EXPECT_EQ(one(up.headers, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(local(rewrite_request(s, Provider::openai, request("GET", "/v1/responses?model=o3", upgrade))).status, 403);
}

// --- Request ids --------------------------------------------------------

TEST(RequestId, AValidClientIdIsReusedElseAUuidV4) {
  EXPECT_EQ(upstream(send(Provider::openai, request("GET", "/v1/models", {{"X-Request-ID", "abc_1.2-3"}}))).request_id,
            "abc_1.2-3");
  for (const std::string& bad : {std::string("has space"), std::string(129, 'a'), std::string(""), std::string("a/b")}) {
    const auto up = upstream(send(Provider::openai, request("GET", "/v1/models", {{"x-request-id", bad}})));
    EXPECT_TRUE(is_uuid_v4(up.request_id)) << up.request_id;
    EXPECT_EQ(values(up.headers, "x-request-id"), std::vector<std::string>{up.request_id});
  }
  EXPECT_TRUE(is_valid_request_id(std::string(128, 'a')));
}

TEST(RequestId, EveryLocalReplyCarriesIt) {
  const std::vector<Header> id = {{"X-Request-ID", "rid-7"}};
  const auto none = settings_from({});
  const auto policy = with_policy(R"(["x"])", nullptr);
  const LocalReply replies[] = {
      local(send(Provider::openai, request("GET", "/health", id))),
      local(rewrite_request(none, Provider::anthropic, request("GET", "/v1/x", id))),
      local(send(Provider::openai, request("GET", "//x", id))),
      local(send(Provider::openai, request("POST", "/x", id, std::string(kMaxBodyBytes + 1, ' ')))),
      local(rewrite_request(policy, Provider::openai, request("POST", "/x", id, R"({"model":"y"})"))),
      body_too_large_reply("rid-7"),
      upstream_failure_reply("rid-7"),
  };
  for (const auto& r : replies) EXPECT_EQ(one(r.headers, "x-request-id"), "rid-7") << r.body;
}

TEST(UpstreamFailure, TheReplyNamesNoInternalDetail) {
  const auto r = upstream_failure_reply("r");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, R"({"error":"Proxy error","message":"The API proxy could not reach the provider"})");
}

}  // namespace
}  // namespace awf::api
