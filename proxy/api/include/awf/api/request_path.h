// The request-target rules: only origin form, dot segments resolved before
// the base path is prefixed (so `..` cannot climb above it), fragment dropped,
// query kept; query parameters removed by name; the model named in a path.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awf::api {

// Exactly one `/` first: `/x` yes; `//host/x`, `http://host/x`, `*` and ""
// no. The upstream host comes only from the configuration.
bool is_origin_form(std::string_view target);

struct SplitTarget {
  std::string_view path;   // up to `?` or `#`
  std::string_view query;  // after `?`, up to `#`
  bool has_query = false;
};
// The fragment, if any, is dropped.
SplitTarget split_target(std::string_view target);

// RFC 3986 remove_dot_segments on an absolute path. `%2e` (any case) counts
// as a dot, as servers that decode it before routing would read it. The
// result starts with exactly one `/` and has no `.` or `..` segment.
std::string normalize_path(std::string_view path);

// `base + path`, with `base` "" or "/a/b". keep_paths_under_base: a path
// equal to `base` or under `base/` stays as it is.
std::string join_base_path(std::string_view base, std::string_view path, bool keep_paths_under_base);

// The query without the parameters whose (percent-decoded) name is one of
// `names`; other parameters keep their order and spelling.
std::string remove_query_params(std::string_view query, const std::vector<std::string_view>& names);

// The first value of parameter `name` (names and values percent-decoded,
// `+` as space), if present.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// The models a Gemini or Vertex path names: each segment after a `models`
// segment, percent-decoded, up to `:`
// (`/v1beta/models/gemini-2.5-pro:generateContent` -> gemini-2.5-pro).
// Every one is returned, so a path cannot show the policy one model and the
// provider another.
std::vector<std::string> models_in_path(std::string_view path);

}  // namespace awf::api
