// JSON parsing and JSON.stringify-compatible writing.
#include "awf/logs/json.h"

#include <gtest/gtest.h>

namespace awf::json {
namespace {

TEST(Json, NumbersPrintAsJavaScriptDoes) {
  struct Case {
    const char* name;
    double value;
    const char* expected;
  } cases[] = {
      {"integers have no fraction", 1761074374.0, "1761074374"},
      {"epoch milliseconds keep three digits", 1761074374.646, "1761074374.646"},
      {"halves", 0.5, "0.5"},
      {"negative", -42.25, "-42.25"},
      {"zero", 0.0, "0"},
      {"small numbers use plain notation down to 1e-6", 0.000001, "0.000001"},
      {"smaller ones use an exponent", 1e-7, "1e-7"},
      {"large ones use an exponent from 1e21", 1e21, "1e+21"},
      {"below 1e21 stays plain", 1e20, "100000000000000000000"},
  };
  for (const auto& c : cases) EXPECT_EQ(number_to_string(c.value), c.expected) << c.name;
}

TEST(Json, StringsAreEscapedLikeStringify) {
  EXPECT_EQ(quote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(Json, ParsesAndRewritesADocument) {
  auto v = parse(R"( {"a": [1, 2.5, "x\u00e9"], "b": {"c": null, "d": true}} )");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(stringify(*v), R"({"a":[1,2.5,"xé"],"b":{"c":null,"d":true}})");
  EXPECT_EQ(stringify(*v, 2), "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\xc3\xa9\"\n  ],\n  \"b\": {\n    \"c\": null,\n"
                               "    \"d\": true\n  }\n}");
}

TEST(Json, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "{\"a\" 1}", "[1,]", "{'a':1}", "tru", "\"unterminated", "01", "{\"a\":1} x",
                          "\"raw\ncontrol\""}) {
    EXPECT_FALSE(parse(bad).ok()) << bad;
  }
}

TEST(Json, DeepNestingIsRefusedNotACrash) {
  std::string deep(100000, '[');
  EXPECT_FALSE(parse(deep).ok());
}

TEST(Json, SurrogatePairsBecomeOneCodePoint) {
  auto v = parse(R"("\ud83d\ude00")");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->as_string(), "\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace awf::json
