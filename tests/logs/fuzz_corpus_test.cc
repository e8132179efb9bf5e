// Replays every seed of the log_line fuzz corpus (corpus/log_line) through the fuzz
// target's own checks in the normal build, so a seed (a crash found by
// fuzzing, kept) fails CI in the default and sanitizer builds too.
#include <gtest/gtest.h>

#include "awf/testing/corpus.h"
#include "fuzz/log_line_harness.h"

namespace awf::logs::fuzz {
namespace {

TEST(FuzzCorpus, EveryLogSeedKeepsTheInvariants) {
  const auto seeds = awf::testing::corpus_seeds(std::filesystem::path(AWF_LOGS_CORPUS_DIR) / "log_line");
  ASSERT_GE(seeds.size(), 8u);
  for (const auto& s : seeds) EXPECT_EQ(check_log_text(s.bytes), "") << s.name;
}

}  // namespace
}  // namespace awf::logs::fuzz
