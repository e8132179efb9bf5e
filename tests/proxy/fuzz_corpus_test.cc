// Replays every seed of the HTTP/1 fuzz corpora (http_head, chunked,
// authority, http_head_beast) through the fuzz targets' own checks in the
// normal build, so a seed (a crash found by fuzzing, kept) fails CI in the
// default and sanitizer builds too, without clang. A seed of http_head named
// `<outcome>__what` must also give that outcome (tests/proxy/corpus/README.md).
#include <gtest/gtest.h>

#include <filesystem>

#include "awf/testing/corpus.h"
#include "fuzz/beast_harness.h"
#include "fuzz/http_harness.h"

namespace awf::proxy::fuzz {
namespace {

std::vector<awf::testing::CorpusSeed> seeds(const std::string& corpus) {
  return awf::testing::corpus_seeds(std::filesystem::path(AWF_PROXY_CORPUS_DIR) / corpus);
}

std::string named_outcome(const std::string& name) {
  const auto sep = name.find("__");
  return sep == std::string::npos ? "" : name.substr(0, sep);
}

TEST(FuzzCorpus, EveryHttpHeadSeedKeepsTheInvariantsAndGivesItsNamedOutcome) {
  const auto all = seeds("http_head");
  ASSERT_GE(all.size(), 20u);
  for (const auto& s : all) {
    EXPECT_EQ(check_http_head(s.bytes), "") << s.name;
    if (const std::string want = named_outcome(s.name); !want.empty()) {
      EXPECT_EQ(http_head_outcome(s.bytes), want) << s.name;
    }
  }
}

TEST(FuzzCorpus, EveryHttpHeadSeedAgreesWithBeastOrDiffersAsDocumented) {
  // The Beast differential also reads the http_head seeds: they are heads.
  for (const char* corpus : {"http_head_beast", "http_head"}) {
    for (const auto& s : seeds(corpus)) EXPECT_EQ(check_beast(s.bytes), "") << corpus << "/" << s.name;
  }
}

TEST(FuzzCorpus, EveryChunkedSeedIsFramedAlikeByScannerAndDecoder) {
  const auto all = seeds("chunked");
  ASSERT_GE(all.size(), 10u);
  for (const auto& s : all) EXPECT_EQ(check_chunked(s.bytes), "") << s.name;
}

TEST(FuzzCorpus, EveryAuthoritySeedRoundTripsAndIsDecidedAsItsCanonicalHost) {
  const auto all = seeds("authority");
  ASSERT_GE(all.size(), 10u);
  for (const auto& s : all) EXPECT_EQ(check_authority(s.bytes), "") << s.name;
}

// The harness itself must be able to fail: a broken invariant is reported.
TEST(FuzzCorpus, TheHarnessesReportWhatTheyCheck) {
  EXPECT_EQ(http_head_outcome("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), "request");
  EXPECT_EQ(http_head_outcome("HTTP/1.1 200 OK\r\n\r\n"), "response");
  EXPECT_EQ(http_head_outcome("GET / HTTP/1.1\nHost: a\r\n\r\n"), "bare_lf");
  EXPECT_EQ(http_head_outcome("GET / HTTP/1.1\r\n"), "need_more");
  EXPECT_EQ(to_hex(0x1a2b), "1a2b");
  EXPECT_EQ(canonical_host("0x7F.1"), "127.0.0.1");
  EXPECT_EQ(canonical_host("Example.COM."), "example.com");
}

}  // namespace
}  // namespace awf::proxy::fuzz
