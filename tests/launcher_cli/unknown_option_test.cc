// The nearest-option rule behind "unknown option ... (Did you mean ...?)",
// commander's: Damerau-Levenshtein distance at most 3 and similarity above
// 0.4, the closest ones only.
#include "awf/cli/unknown_option.h"

#include <gtest/gtest.h>

namespace awf::cli {
namespace {

const std::vector<std::string> kKnown = {"--allow-domains", "--block-domains", "--allow-domains-file",
                                         "--dns-servers",   "--env",           "--env-all",
                                         "--help",          "--follow",        "-d"};

struct Case {
  const char* sentence;
  const char* word;
  std::vector<std::string> expected;
};

TEST(SimilarOptions, CommandersRulePicksTheClosestKnownOptions) {
  const Case cases[] = {
      {"a dropped letter", "--alow-domains", {"--allow-domains"}},
      {"two letters swapped count once", "--allow-dmoains", {"--allow-domains"}},
      {"three edits are still close", "--alw-dmains-x", {}},
      {"a missing plural", "--block-domain", {"--block-domains"}},
      {"the closest wins over a farther one", "--env-al", {"--env-all"}},
      {"nothing within three edits", "--frobnicate", {}},
      {"short words must stay similar", "--ev", {"--env"}},
      {"a prefix too far from the whole", "--dns", {}},
      {"one-letter names are never guessed", "--d", {}},
      {"a different option entirely", "--follo", {"--follow"}},
  };
  for (const auto& c : cases) EXPECT_EQ(similar_options(c.word, kKnown), c.expected) << c.sentence;
}

TEST(SimilarOptions, EqualDistancesAreAllOffered) {
  EXPECT_EQ(similar_options("--bar", {"--baz", "--bat", "--foo"}), (std::vector<std::string>{"--bat", "--baz"}));
}

}  // namespace
}  // namespace awf::cli
