// JSON parsing through Boost.JSON and JSON.stringify-compatible writing.
#include "awf/logs/json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace awf::json {
namespace {

// What parsing `text` gives: the document as stringify writes it back, or
// "refused: " and the error message.
std::string parsed(std::string_view text) {
  auto v = parse_value(text);
  return v.ok() ? stringify(*v) : "refused: " + v.message();
}

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

TEST(Json, StringsAndKeysAreEscapedLikeStringify) {
  boost::json::object o;
  o["k\n"] = "a\"b\\c\n\t\x01";
  o["e"] = "caf\xc3\xa9";
  EXPECT_EQ(stringify(boost::json::value(std::move(o))), "{\"k\\n\":\"a\\\"b\\\\c\\n\\t\\u0001\",\"e\":\"caf\xc3\xa9\"}");
}

TEST(Json, ParsesAndRewritesADocument) {
  auto v = parse_value(R"( {"a": [1, 2.5, "x\u00e9"], "b": {"c": null, "d": true}} )");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(stringify(*v), R"({"a":[1,2.5,"xé"],"b":{"c":null,"d":true}})");
  EXPECT_EQ(stringify(*v, 2), "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\xc3\xa9\"\n  ],\n  \"b\": {\n    \"c\": null,\n"
                               "    \"d\": true\n  }\n}");
}

TEST(Json, EmptyContainersStayOnOneLineWhenIndented) {
  auto v = parse_value(R"({"a":[],"b":{}})");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(stringify(*v, 2), "{\n  \"a\": [],\n  \"b\": {}\n}");
}

TEST(Json, BuiltObjectsKeepInsertionOrder) {
  boost::json::object o;
  o.emplace("zeta", 1);
  o.emplace("alpha", "a");
  o.emplace("mid", nullptr);
  o.emplace("flag", false);
  EXPECT_EQ(stringify(boost::json::value(std::move(o))), R"({"zeta":1,"alpha":"a","mid":null,"flag":false})");
}

TEST(Json, NumbersRoundTripToTheDigitsTheyWereWrittenWith) {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;
  } cases[] = {
      {"epoch seconds with milliseconds", "1761074374.646", "1761074374.646"},
      {"seventeen significant digits read exactly", "31523.865727719610", "31523.86572771961"},
      {"a tiny exponent", "-4.416357465744148e-137", "-4.416357465744148e-137"},
      {"a huge exponent", "3.936162278297495e+69", "3.936162278297495e+69"},
      {"integers beyond 2^53 print as the double JavaScript holds", "9007199254740993", "9007199254740992"},
      {"integers beyond 2^64 too", "18446744073709551616", "18446744073709552000"},
      {"negative zero prints as 0", "-0", "0"},
      {"overflow is Infinity, which stringify writes as null", "1e400", "null"},
      {"underflow is zero", "1e-400", "0"},
  };
  for (const auto& c : cases) EXPECT_EQ(parsed(c.text), c.expected) << c.name;
}

TEST(Json, MalformedInputIsRefusedWithThePosition) {
  struct Case {
    const char* name;
    std::string_view text;
    const char* message;
  } cases[] = {
      {"empty input", "", "Unexpected end of JSON input"},
      {"an unclosed object", "{", "Unexpected end of JSON input"},
      {"an unterminated string", "\"unterminated", "Unexpected end of JSON input"},
      {"a cut-off literal", "tru", "Unexpected end of JSON input"},
      {"an unquoted key", "{network:", "Unexpected token at position 1"},
      {"a missing colon", "{\"a\" 1}", "Unexpected token at position 5"},
      {"a trailing comma", "[1,]", "Unexpected token at position 3"},
      {"single quotes", "{'a':1}", "Unexpected token at position 1"},
      {"a leading zero", "01", "Unexpected token at position 1"},
      {"text after the document", "{\"a\":1} x", "Unexpected token at position 8"},
      {"a second document", "[]]", "Unexpected token at position 2"},
      {"a raw control character in a string", "\"raw\ncontrol\"", "Unexpected token at position 4"},
      {"a comment", "[1 /* no */]", "Unexpected token at position 3"},
  };
  for (const auto& c : cases) EXPECT_EQ(parsed(c.text), std::string("refused: ") + c.message) << c.name;
}

TEST(Json, NestingUpToTheLimitParses) {
  std::string deep = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_EQ(parsed(deep), deep);
}

TEST(Json, DeepNestingIsRefusedNotACrash) {
  EXPECT_EQ(parsed(std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']')),
            "refused: JSON nested deeper than 64 levels at position 64");
  EXPECT_EQ(parsed(std::string(100000, '[')), "refused: JSON nested deeper than 64 levels at position 64");
}

TEST(Json, SurrogatePairsBecomeOneCodePoint) {
  auto v = parse_value(R"("\ud83d\ude00")");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->get_string(), "\xf0\x9f\x98\x80");
}

TEST(Json, LoneSurrogateEscapesAreRefused) {
  // JSON.parse accepts these; Boost 1.81 has no option to.
  EXPECT_FALSE(parse_value(R"("\ud83d")").ok());
  EXPECT_FALSE(parse_value(R"("\ude00")").ok());
}

TEST(Json, InvalidUtf8InStringsIsKeptAsBytes) {
  EXPECT_EQ(parsed("{\"ua\":\"bad \xff byte\"}"), "{\"ua\":\"bad \xff byte\"}");
}

TEST(Json, DuplicateKeysKeepTheLastValueAsJsonParseDoes) {
  auto v = parse_value(R"({"a":1,"b":2,"a":3})");
  ASSERT_TRUE(v.ok()) << v.message();
  const auto* a = find(*v, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(stringify(*a), "3");
}

TEST(Json, FindAnswersNullForMissingKeysAndNonObjects) {
  auto v = parse_value(R"({"a":{"b":"c"},"list":[1]})");
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(find(*v, "missing"), nullptr);
  EXPECT_EQ(find(*find(*v, "list"), "a"), nullptr);
  const auto* b = find(*find(*v, "a"), "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->get_string(), "c");
}

}  // namespace
}  // namespace awf::json
