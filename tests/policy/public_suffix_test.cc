// Registrable domains from the Public Suffix List: the list's rule kinds on
// a small list of our own, then Debian's list as installed.
#include "awf/policy/public_suffix.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "awf/testing/facility.h"

namespace awf::policy {
namespace {

const char* kList =
    "// a comment line\n"
    "com\n"
    "uk\n"
    "co.uk\n"
    "*.ck\n"
    "!www.ck\n"
    "github.io   trailing words are ignored\n"
    "\n";

TEST(PublicSuffix, EachKindOfRule) {
  const PublicSuffixList psl = PublicSuffixList::parse(kList);
  struct Case {
    const char* host;
    std::optional<std::string> want;
  } cases[] = {
      {"com", std::nullopt},                        // a suffix itself
      {"example.com", "example.com"},
      {"a.b.example.com", "example.com"},
      {"co.uk", std::nullopt},
      {"example.co.uk", "example.co.uk"},            // the longest rule wins
      {"www.example.co.uk", "example.co.uk"},
      {"ck", std::nullopt},
      {"any.ck", std::nullopt},                     // "*.ck": every name under ck is a suffix
      {"site.any.ck", "site.any.ck"},
      {"www.ck", "www.ck"},                         // "!www.ck": the exception wins
      {"a.www.ck", "www.ck"},
      {"user.github.io", "user.github.io"},
      {"github.io", std::nullopt},
      {"web.allowed.test", "allowed.test"},          // no rule: the implicit "*"
      {"test", std::nullopt},
      {"127.0.0.1", std::nullopt},
      {"::1", std::nullopt},
      {"", std::nullopt},
  };
  for (const Case& c : cases) EXPECT_EQ(psl.registrable_domain(c.host), c.want) << c.host;
}

TEST(PublicSuffix, DebiansListLoadsAndGroupsAsTheirOwnersDo) {
  AWF_REQUIRE_FACILITY(std::filesystem::exists(kPublicSuffixListPath),
                       std::string(kPublicSuffixListPath) + " (the publicsuffix package)");
  auto psl = PublicSuffixList::load();
  ASSERT_TRUE(psl) << psl.message();
  EXPECT_GT(psl->size(), 5000u);
  EXPECT_EQ(psl->registrable_domain("api.github.com"), "github.com");
  // githubusercontent.com is a suffix (its names belong to different
  // users): each name under it stands alone.
  EXPECT_EQ(psl->registrable_domain("raw.githubusercontent.com"), "raw.githubusercontent.com");
  EXPECT_EQ(psl->registrable_domain("octo.github.io"), "octo.github.io");
  EXPECT_EQ(psl->registrable_domain("files.pythonhosted.org"), "pythonhosted.org");
  EXPECT_EQ(psl->registrable_domain("www.bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(psl->registrable_domain("co.uk"), std::nullopt);
}

TEST(PublicSuffix, AMissingFileIsAnErrorNamingIt) {
  auto psl = PublicSuffixList::load("/nonexistent/psl.dat");
  ASSERT_FALSE(psl);
  EXPECT_NE(psl.message().find("/nonexistent/psl.dat"), std::string::npos) << psl.message();
}

}  // namespace
}  // namespace awf::policy
