// Replays every seed of the log_line fuzz corpus (corpus/log_line) through the fuzz
// target's own checks in the normal build, so a seed (a crash found by
// fuzzing, kept) fails CI in the default and sanitizer builds too.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/log_line_harness.h"

namespace awf::logs::fuzz {
namespace {

TEST(FuzzCorpus, EveryLogSeedKeepsTheInvariants) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(AWF_LOGS_CORPUS_DIR) / "log_line")) {
    if (entry.is_regular_file() && entry.path().extension() != ".md") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 8u);
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(check_log_text(bytes), "") << path.filename();
  }
}

}  // namespace
}  // namespace awf::logs::fuzz
