// json_quoted: byte for byte what JavaScript's JSON.stringify writes for a
// string (the expected texts are JSON.stringify's output for the same input).
#include "awf/json_quote.h"

#include <gtest/gtest.h>

namespace awf {
namespace {

TEST(JsonQuote, WritesWhatJsonStringifyWrites) {
  using namespace std::string_literals;
  struct Case {
    const char* why;
    std::string in;
    std::string out;
  } cases[] = {
      {"plain text", "example.com", R"("example.com")"},
      {"empty", "", R"("")"},
      {"a double quote", "a\"b", R"("a\"b")"},
      {"a backslash", "a\\b", R"("a\\b")"},
      {"the short escapes", "\b\f\n\r\t", R"("\b\f\n\r\t")"},
      {"NUL as \\u0000", "a\0b"s, R"("a\u0000b")"},
      {"other control characters in lower-case hex", "\x01\x0b\x1b\x1f", R"("\u0001\u000b\u001b\u001f")"},
      {"space is not a control character", " ", R"(" ")"},
      {"DEL is written as it is", "\x7f", "\"\x7f\""},
      {"a slash is not escaped", "http://a/b", R"("http://a/b")"},
      {"single quotes and angle brackets are not escaped", "'<>&", R"("'<>&")"},
      {"UTF-8 passes through", "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
      {"bytes that are not UTF-8 pass through too", "\xff\xc3", "\"\xff\xc3\""},
  };
  for (const auto& c : cases) EXPECT_EQ(json_quoted(c.in), c.out) << c.why;
}

TEST(JsonQuote, AppendsAfterWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_quoted(out, "v\n");
  EXPECT_EQ(out, "{\"k\":\"v\\n\"");
}

}  // namespace
}  // namespace awf
