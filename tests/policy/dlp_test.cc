// The DLP scanner: every credential shape found (raw, in any case, behind
// percent escapes), ordinary URLs left alone, and redaction that never keeps
// the secret. Tokens are made up at run time from their documented shapes.
#include "awf/policy/dlp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace awf::policy {
namespace {

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

struct Shape {
  std::string secret;
  const char* pattern;
};

std::vector<Shape> shapes() {
  return {
      {"ghp_" + repeat('a', 36), "github-token"},
      {"gho_" + repeat('B', 36), "github-token"},
      {"ghs_" + repeat('7', 36), "github-token"},
      {"ghu_" + repeat('c', 36), "github-token"},
      {"github_pat_" + repeat('d', 22) + "_" + repeat('e', 59), "github-fine-grained-token"},
      {"sk-" + repeat('f', 20) + "T3BlbkFJ" + repeat('g', 20), "openai-key"},
      {"sk-proj-" + repeat('h', 48), "openai-project-key"},
      {"sk-ant-api03-" + repeat('i', 40), "anthropic-key"},
      {"AKIA" + repeat('J', 16), "aws-access-key-id"},
      {"AIza" + repeat('k', 35), "google-api-key"},
      {"xoxb-" + repeat('1', 12) + "-" + repeat('2', 12), "slack-token"},
      {"xoxp-" + repeat('3', 12), "slack-token"},
  };
}

TEST(Dlp, EveryShapeIsFoundInAPathAQueryAndAHostName) {
  const DlpScanner scanner;
  for (const Shape& s : shapes()) {
    for (const std::string& url : {"http://example.test/upload/" + s.secret, "http://example.test/x?k=" + s.secret,
                                   s.secret + ".example.test:443"}) {
      auto hit = scanner.scan(url);
      ASSERT_TRUE(hit) << url;
      EXPECT_EQ(*hit, s.pattern) << url;
      const std::string redacted = scanner.redact(url);
      EXPECT_EQ(redacted.find(s.secret), std::string::npos) << redacted;
      EXPECT_NE(redacted.find(std::string("[dlp:") + s.pattern + "]"), std::string::npos) << redacted;
    }
  }
}

TEST(Dlp, CaseDoesNotHideAShapeAsInSquidsUrlRegexDashI) {
  const DlpScanner scanner;
  EXPECT_EQ(scanner.scan("http://e.test/GHP_" + repeat('a', 36)), std::optional<std::string>("github-token"));
  EXPECT_EQ(scanner.scan("http://e.test/akia" + repeat('q', 16)), std::optional<std::string>("aws-access-key-id"));
}

TEST(Dlp, QueryParametersNamedLikeCredentialsAndPrivateKeys) {
  const DlpScanner scanner;
  EXPECT_EQ(scanner.scan("http://e.test/a?bearer=xyz"), std::optional<std::string>("bearer-query-parameter"));
  EXPECT_EQ(scanner.scan("http://e.test/a?x=1&Authorization=xyz"),
            std::optional<std::string>("authorization-query-parameter"));
  EXPECT_EQ(scanner.scan("http://e.test/a?k=-----BEGIN%20RSA%20PRIVATE%20KEY-----"),
            std::optional<std::string>("private-key"));
  EXPECT_EQ(scanner.scan("http://e.test/a?k=BEGIN+PRIVATE+KEY"), std::optional<std::string>("private-key"));
  // A parameter that merely ends in the word is something else.
  EXPECT_FALSE(scanner.scan("http://e.test/a?nobearer=1"));
  EXPECT_FALSE(scanner.scan("http://e.test/bearer=1"));
}

TEST(Dlp, PercentEscapesDoNotHideAShape) {
  const DlpScanner scanner;
  const std::string token = repeat('a', 36);
  // "%67hp_..." is "ghp_...", "%2567" is "%67" once more.
  for (const std::string& url : {"http://e.test/%67hp_" + token, "http://e.test/%2567hp_" + token,
                                 "http://e.test/gh%70%5F" + token}) {
    EXPECT_EQ(scanner.scan(url), std::optional<std::string>("github-token")) << url;
    EXPECT_EQ(scanner.redact(url).find(token), std::string::npos) << scanner.redact(url);
  }
}

TEST(Dlp, OrdinaryUrlsAndNearMissesPass) {
  const DlpScanner scanner;
  for (const std::string& url : {
           std::string("http://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"),
           std::string("http://api.github.com/repos/o/r/commits?per_page=100&sha=") + repeat('f', 40),
           "http://e.test/ghp_" + repeat('a', 35),             // one short
           "http://e.test/sk-" + repeat('b', 40),              // sk- without OpenAI's marker
           "http://e.test/AKIA" + repeat('C', 15),             // one short
           std::string("http://e.test/xoxa-123"),              // not a bot or user token
           std::string("http://e.test/keys/private/key.pem"),  // the words apart
           std::string("http://e.test/%zz%4"),                 // bad escapes are kept, not a crash
           std::string(""),
       }) {
    EXPECT_FALSE(scanner.scan(url)) << url;
  }
}

TEST(Dlp, PercentDecodeKeepsWhatIsNotAnEscape) {
  EXPECT_EQ(percent_decode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%g1"), "%g1");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
}

}  // namespace
}  // namespace awf::policy
