// Replays every seed of the API rewrite fuzz corpus in the normal build, so
// the corpus (and any crash found by fuzzing, kept as a seed) guards CI
// without clang.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "rewrite_harness.h"

namespace awf::api {
namespace {

namespace fs = std::filesystem;

TEST(Corpus, EveryRewriteSeedKeepsTheInvariants) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(AWF_API_CORPUS_DIR) / "api_rewrite")) {
    if (entry.is_regular_file() && entry.path().extension() != ".md") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(fuzz::check_rewrite(bytes), "") << path.filename();
  }
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
