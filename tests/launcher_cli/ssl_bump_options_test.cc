// awf --ssl-bump and --allow-urls in the native runtime: accepted together,
// --allow-urls validated with awf's messages (policy/url_pattern.h, the same
// code awf-proxy compiles them with) and passed on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "awf/cli/options.h"

namespace awf::cli {
namespace {

class SslBumpOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/awf-cli-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ctx_.host_env = {{"HOME", "/home/me"}};
    const std::string resolv = dir_ + "/resolv.conf";
    std::ofstream(resolv) << "nameserver 127.0.0.53\n";
    ctx_.resolv_conf_paths = {resolv};
    ctx_.path_exists = [](const std::string&) { return true; };
    ctx_.now_ms = 1761074374646;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<LaunchConfig> parse(std::vector<std::string> args) {
    args.insert(args.end(), {"--", "true"});
    return parse_command_line(args, ctx_);
  }

  std::string dir_;
  FinalizeContext ctx_;
};

TEST_F(SslBumpOptions, SslBumpAndAllowUrlsAreAcceptedAndPassedOn) {
  auto c = parse({"--allow-domains", "github.com", "--ssl-bump", "--allow-urls",
                  "https://github.com/myorg/*, https://api.github.com/repos/x"});
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->ssl_bump);
  EXPECT_EQ(c->allow_urls, "https://github.com/myorg/*,https://api.github.com/repos/x");
  auto plain = parse({"--allow-domains", "github.com", "--ssl-bump"});
  ASSERT_TRUE(plain.ok()) << plain.message();
  EXPECT_TRUE(plain->ssl_bump);
  EXPECT_EQ(plain->allow_urls, "");
  EXPECT_FALSE(parse({"--allow-domains", "github.com"})->ssl_bump);
}

TEST_F(SslBumpOptions, BadUrlPatternsGetAwfsMessages) {
  struct Case {
    const char* why;
    std::string pattern;
    std::string message;
  } cases[] = {
      {"not https", "http://github.com/x", "URL patterns must start with https:// (got: http://github.com/x)"},
      {"no path", "https://github.com", "URL pattern \"https://github.com\" must include a path component"},
      {"every host", "https://*", "URL pattern \"https://*\" is too broad and would bypass security controls"},
  };
  for (const auto& c : cases) {
    auto r = parse({"--allow-domains", "github.com", "--ssl-bump", "--allow-urls", c.pattern});
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_NE(r.message().find(c.message), std::string::npos) << c.why << ": " << r.message();
  }
  auto without = parse({"--allow-domains", "github.com", "--allow-urls", "https://github.com/x"});
  ASSERT_FALSE(without.ok());
  EXPECT_NE(without.message().find("--allow-urls requires --ssl-bump to be enabled"), std::string::npos)
      << without.message();
}

}  // namespace
}  // namespace awf::cli
