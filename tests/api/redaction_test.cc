// Log redaction: no credential, and no 4-character piece of one, in a log
// line; secret hosts replaced whole; control characters and length bounded.
#include <gtest/gtest.h>

#include "api_test_support.h"
#include "awf/api/redaction.h"

namespace awf::api {
namespace {

using namespace test;

// Whether any 4-byte window of `secret` occurs in `text`.
bool has_piece(std::string_view text, std::string_view secret) {
  for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
    if (text.find(secret.substr(i, 4)) != std::string_view::npos) return true;
  }
  return false;
}

TEST(Redactor, FindsAnyFourCharacterPiece) {
  const Redactor r({"sk-Abcdef123456"}, {});
  EXPECT_TRUE(r.contains_secret_piece("path /x/sk-Abcdef123456"));
  EXPECT_TRUE(r.contains_secret_piece("...f123..."));
  EXPECT_FALSE(r.contains_secret_piece("f12 sk- Abc"));
  EXPECT_FALSE(Redactor({}, {}).contains_secret_piece("anything"));
  EXPECT_TRUE(Redactor({"ab"}, {}).contains_secret_piece("xaby"));
}

TEST(Redactor, ScrubReplacesCoveredRuns) {
  const Redactor r({"sk-Abcdef123456"}, {"byok.example"});
  EXPECT_EQ(r.scrub("key=sk-Abcdef123456&x=1"), "key=[REDACTED]&x=1");
  EXPECT_EQ(r.scrub("a def1 b"), "a [REDACTED] b");
  EXPECT_EQ(r.scrub("to BYOK.example/v1"), "to [REDACTED]/v1");
  EXPECT_EQ(r.scrub("nothing here"), "nothing here");
}

TEST(LogLine, NoCredentialPieceOrSecretHostSurvives) {
  const auto s = settings_from(with(all_keys(), {{"COPILOT_PROVIDER_API_KEY", kByokKey},
                                                 {"COPILOT_PROVIDER_BASE_URL", "https://tenant-x.byok.example/v1"}}));
  const Redactor r = Redactor::for_settings(s);
  ApiLogFields f;
  f.request_id = "rid";
  f.provider = Provider::copilot;
  f.method = "POST";
  // An agent echoing what it guesses, split by control characters that the
  // log would otherwise drop and so join.
  f.path = std::string("/v1/") + kOpenAiKey + "/x?k=" + std::string(kGithubToken).substr(3, 6) + "\r\n" +
           std::string(kByokKey).substr(0, 2) + "\x01" + std::string(kByokKey).substr(2, 5);
  f.model = std::string("m-") + std::string(kAnthropicKey).substr(5, 4);
  f.upstream_host = "tenant-x.byok.example";
  f.status = 200;
  f.request_bytes = 10;
  f.response_bytes = 20;
  f.duration_ms = 30;
  const std::string line = format_api_log_line(f, r);
  for (const char* secret : {kOpenAiKey, kAnthropicKey, kGeminiKey, kGoogleKey, kGithubToken, kByokKey}) {
    EXPECT_FALSE(has_piece(line, secret)) << secret << " in " << line;
    EXPECT_FALSE(r.contains_secret_piece(line)) << line;
  }
  EXPECT_EQ(line.find("byok.example"), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_TRUE(line.starts_with(R"({"event":"api_request","request_id":"rid","provider":"copilot","method":"POST","path":"/v1/[REDACTED])"))
      << line;
  EXPECT_TRUE(line.ends_with(R"(,"upstream_host":"[REDACTED]","status":200,"request_bytes":10,"response_bytes":20,"duration_ms":30})"))
      << line;
}

TEST(LogText, ControlsRemovedAndCutTo200BytesOnACharacterBoundary) {
  const Redactor none({}, {});
  EXPECT_EQ(log_safe_text("a\r\nb\x7f\tc", none), "abc");
  EXPECT_EQ(log_safe_text(std::string(300, 'x'), none).size(), 200u);
  // 199 ASCII bytes and a two-byte character: the character does not fit.
  EXPECT_EQ(log_safe_text(std::string(199, 'x') + "\xc3\xa9", none), std::string(199, 'x'));
  EXPECT_EQ(log_safe_text("a\xff" "b", none), "a\xef\xbf\xbd" "b");
}

}  // namespace
}  // namespace awf::api
