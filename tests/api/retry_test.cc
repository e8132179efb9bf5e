// The rules for sending a request again (awf/api/retry.h): reading a
// provider's refusal of header values, remembering them within bounds, the
// decision per status and body, and fallback models under the policy.
#include "awf/api/retry.h"

#include <gtest/gtest.h>

#include <thread>

#include "api_test_support.h"

namespace awf::api {
namespace {

using test::all_keys;
using test::request;
using test::settings_from;
using test::upstream;
using test::with;
using Action = RetryDecision::Action;

TEST(UnexpectedHeaderValues, ParseTable) {
  struct Case {
    const char* why;
    std::string body;
    std::optional<RefusedValues> want;
  } cases[] = {
      {"Anthropic's message in its JSON error",
       R"({"type":"error","error":{"type":"invalid_request_error","message":"Unexpected value(s) `b1` for the `anthropic-beta` header. Please consult our documentation"}})",
       RefusedValues{"anthropic-beta", {"b1"}}},
      {"several values, once each", "Unexpected value(s) `b1`, `b2`, `b1` for the `anthropic-beta` header",
       RefusedValues{"anthropic-beta", {"b1", "b2"}}},
      {"\"and\" before the last", "unexpected value(s) `a`, `b` and `c` for the `X-Feature` header",
       RefusedValues{"x-feature", {"a", "b", "c"}}},
      {"no such message", R"({"error":{"message":"max_tokens: Field required"}})", std::nullopt},
      {"no header named", "Unexpected value(s) `b1` somewhere", std::nullopt},
      {"unterminated value", "Unexpected value(s) `b1 for the `h` header", std::nullopt},
      {"a value with a JSON escape is not taken", R"(Unexpected value(s) `a\"b` for the `h` header)", std::nullopt},
      {"a header name that is no token", "Unexpected value(s) `v` for the `a b` header", std::nullopt},
      {"empty value", "Unexpected value(s) `` for the `h` header", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_unexpected_header_values(c.body), c.want) << c.why;
  }
}

TEST(ModelMessages, Table) {
  EXPECT_TRUE(says_model_not_supported_yet(R"({"error":{"message":"The requested model is not supported."}})"));
  EXPECT_FALSE(says_model_not_supported_yet(R"({"error":{"message":"Bad request"}})"));
  for (const char* body :
       {R"({"error":{"message":"The model `gpt-x` does not exist or you do not have access to it.","code":"model_not_found"}})",
        R"({"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}})",
        R"({"error":{"message":"The requested model is not supported."}})",
        R"({"error":{"message":"models/gemini-x is not found for API version v1beta, or is not supported for generateContent"}})"}) {
    EXPECT_TRUE(says_model_unsupported(body)) << body;
  }
  for (const char* body : {R"({"error":{"message":"messages: field required"}})",
                           R"({"error":{"message":"not found"}})", ""}) {
    EXPECT_FALSE(says_model_unsupported(body)) << body;
  }
}

TEST(RemoveHeaderValues, FromListsInAnyCaseDroppingEmptyHeaders) {
  std::vector<Header> headers = {{"Anthropic-Beta", "a, b1,c"}, {"x-other", "b1"}, {"anthropic-beta", "b1"}};
  EXPECT_EQ(remove_header_values(headers, "anthropic-beta", {"zz", "b1"}), std::vector<std::string>{"b1"});
  EXPECT_EQ(headers, (std::vector<Header>{{"Anthropic-Beta", "a,c"}, {"x-other", "b1"}}));
  EXPECT_TRUE(remove_header_values(headers, "anthropic-beta", {"q"}).empty());
  EXPECT_EQ(headers[0].value, "a,c");  // untouched when nothing matched
}

TEST(RememberedHeaderValues, DropsUpFrontAndStaysBounded) {
  RememberedHeaderValues memory;
  EXPECT_TRUE(memory.remember({"anthropic-beta", {"b1", "b2"}}).empty());
  std::vector<Header> headers = {{"anthropic-beta", "b0,b1,b2,b3"}};
  const auto dropped = memory.drop_from(headers);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], (RefusedValues{"anthropic-beta", {"b1", "b2"}}));
  EXPECT_EQ(headers[0].value, "b0,b3");

  // 200 values per header: the 201st is dropped once, not remembered.
  for (int i = 0; i < 300; ++i) memory.remember({"anthropic-beta", {"v" + std::to_string(i)}});
  EXPECT_EQ(memory.size("anthropic-beta"), RememberedHeaderValues::kMaxValuesPerHeader);
  EXPECT_EQ(memory.remember({"anthropic-beta", {"late"}}), std::vector<std::string>{"late"});
  // A bounded number of headers too.
  for (std::size_t i = 0; i < RememberedHeaderValues::kMaxHeaders + 5; ++i) {
    memory.remember({"x-h" + std::to_string(i), {"v"}});
  }
  EXPECT_EQ(memory.size("x-h" + std::to_string(RememberedHeaderValues::kMaxHeaders + 2)), 0u);
}

TEST(RememberedHeaderValues, SharedBetweenThreads) {
  RememberedHeaderValues memory;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&memory, t] {
      for (int i = 0; i < 100; ++i) {
        memory.remember({"h", {std::to_string(t) + "-" + std::to_string(i)}});
        std::vector<Header> headers = {{"h", "x,0-1"}};
        memory.drop_from(headers);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(memory.size("h"), RememberedHeaderValues::kMaxValuesPerHeader);
}

class Decide : public ::testing::Test {
 protected:
  ProviderSettings settings = settings_from(with(all_keys(), {{"COPILOT_API_TARGET", "api.githubcopilot.com"}}));
  RetryState state;

  UpstreamRequest anthropic_request() {
    return upstream(rewrite_request(settings, Provider::anthropic,
                                    request("POST", "/v1/messages", {{"anthropic-beta", "b0,b1"}},
                                            R"({"model":"claude-x","messages":[]})")));
  }
  RetryDecision decide(Provider p, int status, std::string_view body, UpstreamRequest& sent, bool fallback_left) {
    return decide_retry(p, settings.at(p), status, body, sent, state, fallback_left);
  }
};

const char* const kBetaRefusal = "Unexpected value(s) `b1` for the `anthropic-beta` header";

TEST_F(Decide, RefusedHeaderValueIsDroppedOnce) {
  UpstreamRequest sent = anthropic_request();
  const auto d = decide(Provider::anthropic, 400, kBetaRefusal, sent, false);
  EXPECT_EQ(d.action, Action::drop_values);
  EXPECT_EQ(d.refused, (RefusedValues{"anthropic-beta", {"b1"}}));
  EXPECT_EQ(test::one(sent.headers, "anthropic-beta"), "b0");
  // Once per request: the same answer again goes to the agent.
  sent.headers.push_back({"anthropic-beta", "b1"});
  EXPECT_EQ(decide(Provider::anthropic, 400, kBetaRefusal, sent, false).action, Action::deliver);
}

TEST_F(Decide, HeaderRuleNeedsTheValueInTheRequestAndAnEditableHeader) {
  UpstreamRequest sent = anthropic_request();
  EXPECT_EQ(decide(Provider::anthropic, 400, "Unexpected value(s) `zz` for the `anthropic-beta` header", sent, false)
                .action,
            Action::deliver);
  // A provider cannot make the proxy strip the credential.
  EXPECT_EQ(decide(Provider::anthropic, 400,
                   std::string("Unexpected value(s) `") + test::kAnthropicKey + "` for the `x-api-key` header", sent,
                   false)
                .action,
            Action::deliver);
  EXPECT_EQ(test::one(sent.headers, "x-api-key"), test::kAnthropicKey);
  // OpenAI's 400s are not read for it.
  UpstreamRequest openai = sent;
  EXPECT_EQ(decide(Provider::openai, 400, kBetaRefusal, openai, false).action, Action::deliver);
  EXPECT_FALSE(needs_body(Provider::openai, 400, false));
  EXPECT_TRUE(needs_body(Provider::anthropic, 400, false));
  EXPECT_TRUE(needs_body(Provider::copilot, 400, false));
  EXPECT_FALSE(needs_body(Provider::anthropic, 500, true));
  EXPECT_TRUE(needs_body(Provider::openai, 404, true));
}

TEST_F(Decide, CopilotModelNotSupportedIsSentTwiceMoreAfterOneAndTwoSeconds) {
  UpstreamRequest sent = upstream(rewrite_request(settings, Provider::copilot,
                                                  request("POST", "/chat/completions", {}, R"({"model":"m"})")));
  const char* body = R"({"error":{"message":"The requested model is not supported.","code":"model_not_supported"}})";
  auto first = decide(Provider::copilot, 400, body, sent, false);
  EXPECT_EQ(first.action, Action::resend);
  EXPECT_EQ(first.delay, std::chrono::milliseconds(1000));
  auto second = decide(Provider::copilot, 400, body, sent, false);
  EXPECT_EQ(second.action, Action::resend);
  EXPECT_EQ(second.delay, std::chrono::milliseconds(2000));
  EXPECT_EQ(decide(Provider::copilot, 400, body, sent, false).action, Action::deliver);
  // With a fallback model left, the third answer moves on to it.
  EXPECT_EQ(decide(Provider::copilot, 400, body, sent, true).action, Action::fall_back);
  // Only Copilot's.
  RetryState fresh;
  EXPECT_EQ(decide_retry(Provider::openai, settings.at(Provider::openai), 400, body, sent, fresh, false).action,
            Action::deliver);
}

TEST_F(Decide, FallbackOnServerErrorsAndUnsupportedModelsNeverOnAuthOrQuota) {
  UpstreamRequest sent = anthropic_request();
  for (int status : {500, 502, 503, 529}) {
    EXPECT_EQ(decide(Provider::openai, status, "", sent, true).action, Action::fall_back) << status;
    EXPECT_EQ(decide(Provider::openai, status, "", sent, false).action, Action::deliver) << status;
  }
  const char* unsupported = R"({"error":{"code":"model_not_found"}})";
  for (int status : {401, 403, 429}) {
    EXPECT_EQ(decide(Provider::openai, status, unsupported, sent, true).action, Action::deliver) << status;
  }
  EXPECT_EQ(decide(Provider::openai, 404, unsupported, sent, true).action, Action::fall_back);
  EXPECT_EQ(decide(Provider::openai, 400, unsupported, sent, true).action, Action::fall_back);
  EXPECT_EQ(decide(Provider::openai, 400, R"({"error":"bad messages"})", sent, true).action, Action::deliver);
  EXPECT_EQ(decide(Provider::openai, 200, "", sent, true).action, Action::deliver);
}

TEST(FallbackModels, SettingsParsePrefixAndPolicy) {
  auto s = settings_from(with(all_keys(), {{"AWF_FALLBACK_MODELS", R"(["gpt-5-mini","anthropic/claude-haiku","x/y"])"}}));
  EXPECT_EQ(fallback_models_for(s, Provider::openai), (std::vector<std::string>{"gpt-5-mini", "x/y"}));
  EXPECT_EQ(fallback_models_for(s, Provider::anthropic), (std::vector<std::string>{"gpt-5-mini", "claude-haiku", "x/y"}));
  EXPECT_TRUE(fallback_models_for(s, Provider::gemini).empty());

  struct Bad {
    const char* value;
    const char* policy;
    const char* message;
  } bad[] = {
      {"[]", "", "AWF_FALLBACK_MODELS: the list is empty; unset the variable for no fallback"},
      {R"(["gpt-*"])", "", "AWF_FALLBACK_MODELS: entry 1 \"gpt-*\" is a pattern"},
      {R"("gpt-5")", "", "AWF_FALLBACK_MODELS: expected a JSON array of model names"},
      {R"(["gpt-5.1","gpt-4o"])", R"(["gpt-5*"])",
       "AWF_FALLBACK_MODELS: entry 2 \"gpt-4o\" is refused by the model policy (not_allowed)"},
      {R"(["openai/gpt-4o"])", R"(["gpt-5*"])",
       "AWF_FALLBACK_MODELS: entry 1 \"openai/gpt-4o\" is refused by the model policy (not_allowed)"},
  };
  for (const auto& b : bad) {
    Environment env = with(all_keys(), {{"AWF_FALLBACK_MODELS", b.value}});
    if (*b.policy) env["AWF_ALLOWED_MODELS"] = b.policy;
    auto r = read_provider_settings(env);
    ASSERT_FALSE(r.ok()) << b.value;
    EXPECT_EQ(r.message().rfind(b.message, 0), 0u) << r.message();
  }
  // The prefix is removed before the policy looks, as on the route.
  EXPECT_TRUE(read_provider_settings(with(all_keys(), {{"AWF_FALLBACK_MODELS", R"(["openai/gpt-5-mini"])"},
                                                       {"AWF_ALLOWED_MODELS", R"(["gpt-5*"])"}}))
                  .ok());
}

TEST(FallbackModels, WithModelReplacesTheBodyModelAndTheLength) {
  auto s = settings_from(with(all_keys(), {{"AWF_ALLOWED_MODELS", R"(["gpt-5*"])"}}));
  UpstreamRequest sent = upstream(rewrite_request(
      s, Provider::openai, request("POST", "/v1/chat/completions", {}, R"({"model":"gpt-5.1","messages":[]})")));
  auto next = with_model(s, sent, "gpt-5-mini");
  ASSERT_TRUE(next);
  const UpstreamRequest up = upstream(*next);
  EXPECT_EQ(up.body, R"({"model":"gpt-5-mini","messages":[]})");
  EXPECT_EQ(up.model, "gpt-5-mini");
  EXPECT_EQ(test::one(up.headers, "content-length"), std::to_string(up.body.size()));
  EXPECT_EQ(test::one(up.headers, "authorization"), test::one(sent.headers, "authorization"));
  EXPECT_EQ(up.request_id, sent.request_id);
}

// §8.23: a fallback to a model the policy refuses is the policy's 403,
// never a request.
TEST(FallbackModels, ADisallowedModelIsRefusedNeverSent) {
  auto s = settings_from(with(all_keys(), {{"AWF_ALLOWED_MODELS", R"(["gpt-5*"])"},
                                           {"AWF_DISALLOWED_MODELS", R"(["*nano*"])"}}));
  UpstreamRequest sent = upstream(rewrite_request(
      s, Provider::openai, request("POST", "/v1/chat/completions", {}, R"({"model":"gpt-5.1","messages":[]})")));
  for (const char* model : {"gpt-4o", "gpt-5-nano"}) {
    auto next = with_model(s, sent, model);
    ASSERT_TRUE(next) << model;
    const LocalReply reply = test::local(*next);
    EXPECT_EQ(reply.status, 403) << model;
    EXPECT_NE(reply.body.find("model_policy_violation"), std::string::npos) << reply.body;
    EXPECT_EQ(reply.model, model);
  }
}

TEST(FallbackModels, OnlyBodyModelsOfJsonRequestsChange) {
  auto s = settings_from(all_keys());
  auto no_model = upstream(rewrite_request(s, Provider::openai, request("POST", "/v1/files", {}, "raw bytes")));
  EXPECT_FALSE(can_change_model(no_model));
  EXPECT_FALSE(with_model(s, no_model, "m"));
  auto get = upstream(rewrite_request(s, Provider::openai, request("GET", "/v1/models")));
  EXPECT_FALSE(can_change_model(get));
  auto ws = upstream(rewrite_request(
      s, Provider::openai,
      request("GET", "/v1/responses?model=gpt-5", {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}})));
  EXPECT_FALSE(can_change_model(ws));
  auto chat = upstream(rewrite_request(s, Provider::openai,
                                       request("POST", "/v1/chat/completions", {}, R"({"model":"a","n":1})")));
  EXPECT_TRUE(can_change_model(chat));
}

}  // namespace
}  // namespace awf::api
