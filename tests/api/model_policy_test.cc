// Model name patterns and the policy verdict, as a table of sentences.
#include <gtest/gtest.h>

#include "awf/api/model_policy.h"

namespace awf::api {
namespace {

TEST(ModelGlob, Table) {
  struct Case {
    const char* why;
    const char* pattern;
    const char* model;
    bool matches;
  } cases[] = {
      {"a literal matches itself", "gpt-5.6-sol", "gpt-5.6-sol", true},
      {"case is ignored", "GPT-5*", "gpt-5-mini", true},
      {"anchored at the start", "pt-5", "gpt-5", false},
      {"anchored at the end", "gpt-5", "gpt-5-mini", false},
      {"a star matches nothing too", "gpt-5*", "gpt-5", true},
      {"stars anywhere", "*opus*", "claude-opus-4", true},
      {"several stars backtrack", "a*b*c", "axxbyybzc", true},
      {"several stars can still fail", "a*b*c", "axxbyyb", false},
      {"a dot is literal", "gpt.5", "gpt-5", false},
      {"a question mark is literal", "gpt-?", "gpt-5", false},
      {"brackets are literal", "[gc]pt", "gpt", false},
      {"a lone star matches everything", "*", "anything/at-all", true},
      {"empty model only matches stars", "*", "", true},
      {"empty model against a literal", "a", "", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(model_glob_matches(c.pattern, c.model), c.matches) << c.why;
  }
}

TEST(ModelGlob, ManyStarsStayFast) {
  const std::string pattern = std::string(200, '*') + "b";
  const std::string model(5000, 'a');
  EXPECT_FALSE(model_glob_matches(pattern, model));
}

TEST(Policy, VerdictTable) {
  ModelPolicy allow_deny{std::vector<std::string>{"claude-*", "gpt-5*"}, std::vector<std::string>{"*opus*"}};
  ModelPolicy deny_only{std::nullopt, std::vector<std::string>{"o3*"}};
  ModelPolicy allow_only{std::vector<std::string>{"*"}, std::nullopt};
  struct Case {
    const char* why;
    const ModelPolicy& policy;
    const char* model;
    PolicyReason reason;
  } cases[] = {
      {"allowed by a pattern", allow_deny, "claude-sonnet-4", PolicyReason::allowed},
      {"denied though allowed", allow_deny, "claude-opus-4", PolicyReason::disallowed},
      {"not in the allow list", allow_deny, "gemini-2.5", PolicyReason::not_allowed},
      {"auto with a deny list", deny_only, "auto", PolicyReason::dynamic_model_unverifiable},
      {"AUTO in any case", deny_only, "AUTO", PolicyReason::dynamic_model_unverifiable},
      {"auto without a deny list follows the allow list", allow_only, "auto", PolicyReason::allowed},
      {"deny only: others pass", deny_only, "gpt-5", PolicyReason::allowed},
      {"deny only: denied", deny_only, "o3-pro", PolicyReason::disallowed},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(check_model(c.policy, c.model).reason, c.reason) << c.why;
  }
  EXPECT_STREQ(to_string(PolicyReason::dynamic_model_unverifiable), "dynamic_model_unverifiable");
}

TEST(Policy, ParseTrimsEntries) {
  const auto list = parse_model_list("V", R"([" gpt-5* ","o3"])");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<std::string>{"gpt-5*", "o3"}));
  EXPECT_FALSE(parse_model_list("V", R"([[["a"]]]])").ok());
}

}  // namespace
}  // namespace awf::api
