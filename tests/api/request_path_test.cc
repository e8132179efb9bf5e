// Request-target rules: origin form, dot segments, base paths, query
// parameters and models in paths.
#include <gtest/gtest.h>

#include "awf/api/request_path.h"

namespace awf::api {
namespace {

TEST(OriginForm, Table) {
  EXPECT_TRUE(is_origin_form("/"));
  EXPECT_TRUE(is_origin_form("/v1/x?y"));
  EXPECT_FALSE(is_origin_form("//host/x"));
  EXPECT_FALSE(is_origin_form("http://host/x"));
  EXPECT_FALSE(is_origin_form("*"));
  EXPECT_FALSE(is_origin_form(""));
}

TEST(NormalizePath, Table) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/a/./b", "/a/b"},
      {"/a/../b", "/b"},
      {"/..", "/"},
      {"/../../x", "/x"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/a/", "/a/"},
      {"/%2e%2E/x", "/x"},
      {"/a/.%2e/b", "/b"},
      {"/a/%2e/b", "/a/b"},
      {"/a/%2e%2e%2e/b", "/a/%2e%2e%2e/b"},
      {"/a//../b", "/a/b"},
      {"/a/...", "/a/..."},
      {"/a/..b", "/a/..b"},
      {"/a/..//x", "/x"},
      {"/a/../..///x//y", "/x//y"},
      {"///", "/"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(normalize_path(c.in), c.out) << c.in;
    EXPECT_EQ(normalize_path(normalize_path(c.in)), normalize_path(c.in)) << "idempotent: " << c.in;
  }
}

TEST(SplitTarget, FragmentDroppedQueryKept) {
  const auto t = split_target("/a?b=c#d");
  EXPECT_EQ(t.path, "/a");
  EXPECT_EQ(t.query, "b=c");
  EXPECT_TRUE(t.has_query);
  const auto f = split_target("/a#b?c");
  EXPECT_EQ(f.path, "/a");
  EXPECT_FALSE(f.has_query);
}

TEST(JoinBasePath, Table) {
  EXPECT_EQ(join_base_path("", "/x", false), "/x");
  EXPECT_EQ(join_base_path("/p", "/x", false), "/p/x");
  EXPECT_EQ(join_base_path("/p", "/p/x", false), "/p/p/x");
  EXPECT_EQ(join_base_path("/p", "/p/x", true), "/p/x");
  EXPECT_EQ(join_base_path("/p", "/p", true), "/p");
  EXPECT_EQ(join_base_path("/p", "/px", true), "/p/px");
  EXPECT_EQ(join_base_path("/p", "/", false), "/p/");
}

TEST(Query, RemoveByDecodedNameKeepingOrder) {
  EXPECT_EQ(remove_query_params("key=x&apiKey=y&api_key=z&alt=sse", {"key", "apiKey", "api_key"}), "alt=sse");
  EXPECT_EQ(remove_query_params("a=1&k%65y=2&b=3", {"key"}), "a=1&b=3");
  EXPECT_EQ(remove_query_params("a&&b", {"key"}), "a&&b");
  EXPECT_EQ(remove_query_params("keys=1", {"key"}), "keys=1");
}

TEST(Query, ParamValue) {
  EXPECT_EQ(query_param("a=1&model=gpt%2D5+x&model=o3", "model"), "gpt-5 x");
  EXPECT_EQ(query_param("model", "model"), "");
  EXPECT_FALSE(query_param("a=1", "model"));
}

TEST(ModelsInPath, Table) {
  EXPECT_EQ(models_in_path("/v1beta/models/gemini-2.5-pro:generateContent"), std::vector<std::string>{"gemini-2.5-pro"});
  EXPECT_EQ(models_in_path("/v1/projects/p/locations/l/publishers/google/models/g%2D1:predict"),
            std::vector<std::string>{"g-1"});
  EXPECT_EQ(models_in_path("/v1beta/models/x%3Ay"), std::vector<std::string>{"x"});
  EXPECT_EQ(models_in_path("/v1beta/models/gemini-pro"), std::vector<std::string>{"gemini-pro"});
  EXPECT_TRUE(models_in_path("/v1beta/models").empty());
  EXPECT_TRUE(models_in_path("/v1beta/models/").empty());
  EXPECT_TRUE(models_in_path("/v1beta/tunedModels/t:generateContent").empty());
}

}  // namespace
}  // namespace awf::api
