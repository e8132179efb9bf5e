// Replays every seed of the API rewrite fuzz corpus in the normal build, so
// the corpus (and any crash found by fuzzing, kept as a seed) guards CI
// without clang.
#include <gtest/gtest.h>

#include <filesystem>

#include "awf/testing/corpus.h"
#include "rewrite_harness.h"

namespace awf::api {
namespace {

namespace fs = std::filesystem;

TEST(Corpus, EveryRewriteSeedKeepsTheInvariants) {
  const auto seeds = awf::testing::corpus_seeds(fs::path(AWF_API_CORPUS_DIR) / "api_rewrite");
  ASSERT_GE(seeds.size(), 10u);
  for (const auto& s : seeds) EXPECT_EQ(fuzz::check_rewrite(s.bytes), "") << s.name;
}

TEST(Corpus, TheHarnessCatchesABrokenInvariant) {
  // A seed that must reach upstream with the configured host: the harness
  // reads it as the fuzzer would.
  const auto c = fuzz::parse_case("gemini\nPOST /v1beta/models/gemini-2.5:generateContent?key=k\nHost: evil\n\n{}");
  EXPECT_EQ(c.provider, Provider::gemini);
  EXPECT_EQ(c.request.target, "/v1beta/models/gemini-2.5:generateContent?key=k");
  ASSERT_EQ(c.request.headers.size(), 1u);
  EXPECT_EQ(c.request.headers[0], (Header{"Host", "evil"}));
  EXPECT_EQ(c.request.body, "{}");
  EXPECT_TRUE(fuzz::has_dot_segment("/a/%2E%2e/b"));
  EXPECT_FALSE(fuzz::has_dot_segment("/a/..b/c"));
}

}  // namespace
}  // namespace awf::api
