// Request-target rules: origin form, dot segments, base path, query
// parameters, models named in the path.
#include "awf/api/request_path.h"

#include "text.h"

namespace awf::api {

bool is_origin_form(std::string_view target) {
  return !target.empty() && target[0] == '/' && (target.size() == 1 || target[1] != '/');
}

SplitTarget split_target(std::string_view target) {
  SplitTarget out;
  if (const auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  const auto q = target.find('?');
  out.path = target.substr(0, q);
  if (q != std::string_view::npos) {
    out.has_query = true;
    out.query = target.substr(q + 1);
  }
  return out;
}

namespace {

// The segment with every %2e read as a dot: what a server that decodes
// unreserved characters before resolving dot segments sees.
std::string dots_decoded(std::string_view segment) {
  std::string out;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%' && i + 2 < segment.size() && segment[i + 1] == '2' && text::lower(segment[i + 2]) == 'e') {
      out += '.';
      i += 2;
    } else {
      out += segment[i];
    }
  }
  return out;
}

}  // namespace

std::string normalize_path(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  // Segments kept so far; the result is "/" + them joined by "/". A dot
  // segment at the end leaves an empty last segment: "/a/b/.." is "/a/".
  std::vector<std::string_view> kept;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    const std::string_view segment = path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    const bool last = slash == std::string_view::npos;
    const std::string decoded = segment.find('%') == std::string_view::npos ? std::string() : dots_decoded(segment);
    const std::string_view plain = decoded.empty() ? segment : std::string_view(decoded);
    if (plain == "." || plain == "..") {
      if (plain == ".." && !kept.empty()) kept.pop_back();
      if (last) kept.emplace_back();
    } else {
      kept.push_back(segment);
    }
    if (last) break;
    start = slash + 1;
  }
  std::string out;
  out.reserve(path.size() + 1);
  for (const auto& segment : kept) {
    out += '/';
    out += segment;
  }
  // `/a/..//x` leaves `//x`, which URL parsers read as a network-path
  // reference (`//host/path`): one leading slash, whatever the segments.
  const auto first = out.find_first_not_of('/');
  if (first == std::string::npos) return "/";
  if (first > 1) out.erase(0, first - 1);
  return out;
}

std::string join_base_path(std::string_view base, std::string_view path, bool keep_paths_under_base) {
  if (base.empty()) return std::string(path);
  if (keep_paths_under_base && path.starts_with(base) && (path.size() == base.size() || path[base.size()] == '/')) {
    return std::string(path);
  }
  return std::string(base) + std::string(path);
}

namespace {

// Calls f(name, whole parameter) for each `&`-separated parameter.
template <typename F>
void for_each_param(std::string_view query, F&& f) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const auto amp = query.find('&', start);
    const std::string_view param = query.substr(start, amp == std::string_view::npos ? query.npos : amp - start);
    f(param.substr(0, param.find('=')), param);
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
}

}  // namespace

std::string remove_query_params(std::string_view query, const std::vector<std::string_view>& names) {
  std::string out;
  bool first = true;
  for_each_param(query, [&](std::string_view name, std::string_view param) {
    const std::string decoded = text::percent_decode(name, true);
    for (auto n : names) {
      if (decoded == n) return;
    }
    if (!first) out += '&';
    out += param;
    first = false;
  });
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::optional<std::string> found;
  for_each_param(query, [&](std::string_view param_name, std::string_view param) {
    if (found || text::percent_decode(param_name, true) != name) return;
    const auto eq = param.find('=');
    found = eq == std::string_view::npos ? std::string() : text::percent_decode(param.substr(eq + 1), true);
  });
  return found;
}

std::vector<std::string> models_in_path(std::string_view path) {
  std::vector<std::string> out;
  bool after_models = false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const std::string_view segment = path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    const std::string decoded = text::percent_decode(segment, false);
    if (after_models) {
      std::string model = decoded.substr(0, decoded.find(':'));
      if (!model.empty()) out.push_back(std::move(model));
    }
    after_models = decoded == "models";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace awf::api
