// --allow-urls patterns: awf's validation messages, its conversion to
// url_regex (the examples of awf's documentation), and matching.
#include "awf/policy/url_pattern.h"

#include <gtest/gtest.h>

namespace awf::policy {
namespace {

struct Conversion {
  const char* sentence;
  const char* pattern;
  const char* regex;
};

TEST(UrlPattern, ConvertsAsAwfDoes) {
  const Conversion cases[] = {
      {"a trailing wildcard matches any path below and leaves the end open", "https://github.com/myorg/*",
       "^https://github\\.com/myorg/[^\\s]*"},
      {"an exact path is anchored at both ends", "https://api.example.com/v1/users",
       "^https://api\\.example\\.com/v1/users$"},
      {"one trailing slash is dropped", "https://github.com/", "^https://github\\.com$"},
      {"a query's ? is escaped", "https://api.example.com/v1?key=value", "^https://api\\.example\\.com/v1\\?key=value$"},
      {"a wildcard in the host stays within the host", "https://*.example.com/api",
       "^https://[^\\s/]*\\.example\\.com/api$"},
      {"a literal .* stays a wildcard", "https://example.com/a.*", "^https://example\\.com/a.*"},
      {"regex metacharacters are escaped", "https://example.com/a+b(c)[d]|e$",
       "^https://example\\.com/a\\+b\\(c\\)\\[d\\]\\|e\\$$"},
  };
  for (const auto& c : cases) {
    auto p = parse_url_pattern(c.pattern);
    ASSERT_TRUE(p) << c.sentence << ": " << p.message();
    EXPECT_EQ(p->regex, c.regex) << c.sentence;
    EXPECT_EQ(p->text, c.pattern) << c.sentence;
  }
}

struct Refusal {
  const char* sentence;
  const char* pattern;
  const char* message;
};

TEST(UrlPattern, RefusesWithAwfsMessages) {
  const Refusal cases[] = {
      {"http is not inspected", "http://github.com/x", "URL patterns must start with https:// (got: http://github.com/x)"},
      {"a bare host is not a URL", "github.com/x", "URL patterns must start with https:// (got: github.com/x)"},
      {"every host", "https://*", "URL pattern \"https://*\" is too broad and would bypass security controls"},
      {"every dotted host", "https://*.*", "URL pattern \"https://*.*\" is too broad and would bypass security controls"},
      {"a regex wildcard host", "https://.*", "URL pattern \"https://.*\" is too broad and would bypass security controls"},
      {"a bare regex wildcard", ".*", "URL pattern \".*\" is too broad and would bypass security controls"},
      {"a bare star", "*", "URL pattern \"*\" is too broad and would bypass security controls"},
      {"a wildcard host without a path", "https://*.github.com",
       "URL pattern \"https://*.github.com\" is too broad and would bypass security controls"},
      {"a wildcard-only host with a path still matches every host", "https://*/*",
       "URL pattern \"https://*/*\" is too broad and would bypass security controls"},
      {"a host without a path", "https://github.com", "URL pattern \"https://github.com\" must include a path component"},
      {"whitespace would split Squid's line", "https://github.com/a\tb", "contains whitespace"},
      {"a quote", "https://github.com/a\"b", "contains whitespace, a quote"},
  };
  for (const auto& c : cases) {
    auto p = parse_url_pattern(c.pattern);
    ASSERT_FALSE(p) << c.sentence;
    EXPECT_NE(p.message().find(c.message), std::string::npos) << c.sentence << ": " << p.message();
  }
}

TEST(UrlPattern, ListsSplitOnCommasAndStopAtTheFirstBadPattern) {
  auto ok = parse_url_patterns("https://a.test/x, https://b.test/y/*,,");
  ASSERT_TRUE(ok) << ok.message();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].text, "https://b.test/y/*");
  auto bad = parse_url_patterns("https://a.test/x,https://b.test");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("\"https://b.test\" must include a path component"), std::string::npos);
}

TEST(UrlPattern, MatchesWholeUrlsAndNamesTheFirstPattern) {
  auto patterns = parse_url_patterns("https://github.com/myorg/*,https://api.test/v1/users,https://*.cdn.test/img/*");
  ASSERT_TRUE(patterns) << patterns.message();
  auto list = UrlAllowlist::compile(*patterns);
  ASSERT_TRUE(list) << list.message();
  const UrlAllowlist& l = **list;
  ASSERT_NE(l.match("https://github.com/myorg/repo?x=1"), nullptr);
  EXPECT_EQ(l.match("https://github.com/myorg/repo")->text, "https://github.com/myorg/*");
  EXPECT_EQ(l.match("https://github.com/other/repo"), nullptr);
  EXPECT_EQ(l.match("https://github.com.evil.test/myorg/x"), nullptr) << "the host is anchored by its path";
  EXPECT_NE(l.match("https://api.test/v1/users"), nullptr);
  EXPECT_EQ(l.match("https://api.test/v1/users/2"), nullptr) << "an exact pattern ends at its end";
  EXPECT_NE(l.match("https://a.cdn.test/img/x.png"), nullptr);
  EXPECT_EQ(l.match("https://evil.test/.cdn.test/img/x"), nullptr) << "a host wildcard does not cross a '/'";
  auto empty = UrlAllowlist::compile({});
  ASSERT_TRUE(empty);
  EXPECT_EQ((*empty)->match("https://github.com/"), nullptr);
}

}  // namespace
}  // namespace awf::policy
