// Replays every seed of the policy fuzz corpora (corpus/policy,
// corpus/policy_files) through the fuzz targets' own checks in the normal
// build, so a seed (a crash found by fuzzing, kept) fails CI in the default
// and sanitizer builds too.
#include <gtest/gtest.h>

#include <filesystem>

#include "awf/testing/corpus.h"
#include "fuzz/policy_files_harness.h"
#include "fuzz/policy_harness.h"

namespace awf::policy::fuzz {
namespace {

std::vector<awf::testing::CorpusSeed> seeds(const std::string& corpus) {
  return awf::testing::corpus_seeds(std::filesystem::path(AWF_POLICY_CORPUS_DIR) / corpus);
}

TEST(FuzzCorpus, EveryPolicySeedKeepsTheInvariants) {
  const auto all = seeds("policy");
  ASSERT_GE(all.size(), 8u);
  for (const auto& s : all) EXPECT_EQ(check_policy(s.bytes), "") << s.name;
}

TEST(FuzzCorpus, EveryPolicyFileSeedKeepsTheInvariants) {
  const auto all = seeds("policy_files");
  ASSERT_GE(all.size(), 8u);
  for (const auto& s : all) EXPECT_EQ(check_policy_files(s.bytes), "") << s.name;
}

TEST(FuzzCorpus, ThePolicyHarnessComparesWithTheReference) {
  // A pure `*.` pattern does not match its own suffix; a plain entry does.
  EXPECT_EQ(check_policy("a *.example.com\na api.test\nh example.com\nh x.example.com\nh API.test\n"), "");
  EXPECT_TRUE(is_reference_host("a_b.example.com"));
  EXPECT_FALSE(is_reference_host("1.2.3.4"));
  EXPECT_FALSE(is_reference_host("a..b"));
  EXPECT_NE(check_entry("https://a.test"), "x");
}

}  // namespace
}  // namespace awf::policy::fuzz
