// Helpers for the API proxy core's tests: settings from a literal
// environment, and the two outcomes of a rewrite.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "awf/api/rewrite.h"
#include "awf/api/settings.h"

namespace awf::api::test {

// Keys that look like real ones and share no 4-character piece with each
// other or with the test requests.
inline constexpr const char* kOpenAiKey = "sk-proj-Q7xW9zK2mV4nB8cR";
inline constexpr const char* kAnthropicKey = "sk-ant-api03-Hj5Lp9Ty3Ud7";
inline constexpr const char* kGeminiKey = "AIzaSyGemX1Yq8Wr4Ez6";
inline constexpr const char* kGoogleKey = "AIzaSyVtxZ3Kc5Nm7Pb0";
inline constexpr const char* kGithubToken = "ghu_Rk2Jd8Fs4Gh6Lz0Xc3Vb";
inline constexpr const char* kByokKey = "byok-Mn1Qw5Er7Ty9Ui";

inline ProviderSettings settings_from(const Environment& env) {
  auto s = read_provider_settings(env);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
  if (!s.ok()) return ProviderSettings{};
  return std::move(s).value();
}

// Every provider configured with a static key.
inline Environment all_keys() {
  return {{"OPENAI_API_KEY", kOpenAiKey},
          {"ANTHROPIC_API_KEY", kAnthropicKey},
          {"COPILOT_GITHUB_TOKEN", kGithubToken},
          {"GEMINI_API_KEY", kGeminiKey},
          {"GOOGLE_API_KEY", kGoogleKey}};
}

inline Environment with(Environment env, const std::vector<std::pair<std::string, std::string>>& more) {
  for (const auto& [k, v] : more) env[k] = v;
  return env;
}

inline ApiRequest request(std::string method, std::string target, std::vector<Header> headers = {},
                          std::string body = "") {
  return ApiRequest{std::move(method), std::move(target), std::move(headers), std::move(body)};
}

inline UpstreamRequest upstream(const Rewritten& r) {
  if (const auto* reply = std::get_if<LocalReply>(&r)) {
    ADD_FAILURE() << "expected an upstream request, got a local " << reply->status << ": " << reply->body;
    return {};
  }
  return std::get<UpstreamRequest>(r);
}

inline LocalReply local(const Rewritten& r) {
  if (const auto* up = std::get_if<UpstreamRequest>(&r)) {
    ADD_FAILURE() << "expected a local reply, got an upstream request to " << up->host << up->target;
    return {};
  }
  return std::get<LocalReply>(r);
}

// The values of every header named `name`, any case.
inline std::vector<std::string> values(const std::vector<Header>& headers, std::string_view name) {
  return header_values(headers, name);
}

inline std::string one(const std::vector<Header>& headers, std::string_view name) {
  const auto v = header_values(headers, name);
  EXPECT_EQ(v.size(), 1u) << "header " << name;
  return v.empty() ? std::string() : v.front();
}

}  // namespace awf::api::test
