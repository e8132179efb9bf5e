// Command strings: one argument verbatim, several shell-quoted.
#include "awf/cli/command.h"

#include <gtest/gtest.h>

namespace awf::cli {
namespace {

TEST(ShellQuote, Vectors) {
  struct Case {
    const char* why;
    const char* arg;
    const char* quoted;
  } cases[] = {
      {"safe characters stay bare", "https://api.github.com/a_b-c.d=e:f", "https://api.github.com/a_b-c.d=e:f"},
      {"a space forces quotes", "Auth: token", "'Auth: token'"},
      {"a single quote is closed, escaped and reopened", "it's", "'it'\\''s'"},
      {"the empty argument becomes ''", "", "''"},
      {"dollar signs are protected from the sandbox shell", "$HOME", "'$HOME'"},
      {"globs are protected", "*.txt", "'*.txt'"},
      {"a comma is not in the safe set", "a,b", "'a,b'"},
      {"an at sign is not in the safe set", "user@host", "'user@host'"},
      {"newlines are kept inside the quotes", "a\nb", "'a\nb'"},
      {"only quotes", "''", "''\\'''\\'''"},
  };
  for (const auto& c : cases) EXPECT_EQ(shell_quote(c.arg), c.quoted) << c.why;
}

TEST(CommandString, OneArgumentIsUsedVerbatim) {
  EXPECT_EQ(build_command_string({"echo $HOME && curl -s 'x'"}), "echo $HOME && curl -s 'x'");
}

TEST(CommandString, SeveralArgumentsAreQuotedAndJoined) {
  EXPECT_EQ(build_command_string({"curl", "-H", "Auth: token", "https://api.github.com"}),
            "curl -H 'Auth: token' https://api.github.com");
  EXPECT_EQ(build_command_string({"sh", "-c", "exit 42"}), "sh -c 'exit 42'");
}

}  // namespace
}  // namespace awf::cli
