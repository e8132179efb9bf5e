// Runs the real `awf` (and its two companions) as processes for what their
// command lines promise before any run starts: the version, the usage line,
// and naming an unknown option with the one probably meant.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "awf/testing/process.h"

namespace {

using awf::testing::run;

std::string first_line_with(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return {};
  const auto start = text.rfind('\n', at);
  const auto begin = start == std::string::npos ? 0 : start + 1;
  return text.substr(begin, text.find('\n', at) - begin);
}

TEST(AwfCommandLine, VersionIsTheProjectVersionForEveryProgram) {
  auto awf = run({AWF_BIN, "--version"});
  EXPECT_EQ(awf.exit_code, 0) << awf.err;
  EXPECT_EQ(awf.out, AWF_VERSION "\n") << "bare, as awf (commander) prints it";
  auto entrypoint = run({AWF_ENTRYPOINT_BIN, "--version"});
  EXPECT_EQ(entrypoint.exit_code, 0) << entrypoint.err;
  EXPECT_EQ(entrypoint.out, "awf-entrypoint " AWF_VERSION "\n") << "and runs nothing";
  auto proxy = run({AWF_PROXY_BIN, "--version"});
  EXPECT_EQ(proxy.exit_code, 0) << proxy.err;
  EXPECT_EQ(proxy.out, "awf-proxy " AWF_VERSION "\n");
}

TEST(AwfCommandLine, HelpShowsTheProgramNameAndTheDoubleDash) {
  auto help = run({AWF_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_EQ(first_line_with(help.out, "Usage:"), "Usage: awf [OPTIONS] -- COMMAND [ARGS...]") << help.out;
  EXPECT_NE(help.out.find("       awf policy check [OPTIONS] TARGET...\n"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--version"), std::string::npos) << help.out;
  auto logs = run({AWF_BIN, "logs", "--help"});
  EXPECT_EQ(first_line_with(logs.out, "Usage:"), "Usage: awf logs [OPTIONS] [SUBCOMMAND]") << logs.out;
  auto entrypoint = run({AWF_ENTRYPOINT_BIN, "--help"});
  EXPECT_EQ(entrypoint.exit_code, 0) << entrypoint.err;
  EXPECT_TRUE(first_line_with(entrypoint.out, "Usage:").starts_with("Usage: awf-entrypoint [OPTIONS]"))
      << entrypoint.out;
}

struct Typo {
  const char* sentence;
  std::vector<std::string> args;
  const char* err;
};

TEST(AwfCommandLine, AnUnknownOptionIsNamedWithTheNearestKnownOne) {
  const Typo cases[] = {
      {"a dropped letter", {"--alow-domains", "github.com", "--", "true"},
       "error: unknown option '--alow-domains'\n(Did you mean --allow-domains?)\n"},
      {"with its value attached", {"--alow-domains=github.com", "--", "true"},
       "error: unknown option '--alow-domains'\n(Did you mean --allow-domains?)\n"},
      {"a missing plural", {"--block-domain", "x.com", "--", "true"},
       "error: unknown option '--block-domain'\n(Did you mean --block-domains?)\n"},
      {"nothing close", {"--frobnicate", "--", "true"}, "error: unknown option '--frobnicate'\n"},
      {"a short option (commander suggests long ones only)", {"-x", "--", "true"}, "error: unknown option '-x'\n"},
      {"in a subcommand, its own options", {"logs", "--folow"},
       "error: unknown option '--folow'\n(Did you mean --follow?)\n"},
      {"in a nested subcommand", {"logs", "stats", "--formt", "json"},
       "error: unknown option '--formt'\n(Did you mean --format?)\n"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {AWF_BIN};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 1) << c.sentence;
    EXPECT_EQ(r.out, "") << c.sentence;
    EXPECT_EQ(r.err, c.err) << c.sentence;
  }
}

}  // namespace
