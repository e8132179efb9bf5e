// Replays every seed of the config_file fuzz corpus (corpus/config_file) through the fuzz
// target's own checks in the normal build, so a seed (a crash found by
// fuzzing, kept) fails CI in the default and sanitizer builds too.
#include <gtest/gtest.h>

#include "awf/testing/corpus.h"
#include "fuzz/config_file_harness.h"

namespace awf::cli::fuzz {
namespace {

TEST(FuzzCorpus, EveryConfigFileSeedKeepsTheInvariants) {
  const auto seeds = awf::testing::corpus_seeds(std::filesystem::path(AWF_CLI_CORPUS_DIR) / "config_file");
  ASSERT_GE(seeds.size(), 8u);
  for (const auto& s : seeds) EXPECT_EQ(check_config_file(s.bytes), "") << s.name;
}

}  // namespace
}  // namespace awf::cli::fuzz
