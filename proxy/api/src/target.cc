// Target and base-path variables: a host name and nothing else from
// `*_API_TARGET`, a clean prefix from `*_API_BASE_PATH`.
#include "target.h"

#include "awf/api/request_path.h"
#include "awf/api/settings.h"
#include "text.h"

namespace awf::api {

namespace {

bool is_scheme(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63 bytes;
// 253 bytes at most. IPv4 literals pass as digits and dots.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

std::string join_words(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? " and " : ", ";
    out += words[i];
  }
  return out;
}

Result<LooseUrl> split_loose_url(std::string_view variable, std::string_view value, bool show_host) {
  const std::string name(variable);
  std::string_view rest = text::trim(value);
  LooseUrl out;
  if (const auto sep = rest.find("://"); sep != std::string_view::npos && is_scheme(rest.substr(0, sep))) {
    out.had_scheme = true;
    rest.remove_prefix(sep + 3);
  }
  const auto end_of_authority = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end_of_authority);
  std::string_view tail = end_of_authority == std::string_view::npos ? std::string_view() : rest.substr(end_of_authority);
  if (const auto hash = tail.find('#'); hash != std::string_view::npos) {
    out.had_fragment = true;
    tail = tail.substr(0, hash);
  }
  if (const auto q = tail.find('?'); q != std::string_view::npos) {
    out.had_query = true;
    tail = tail.substr(0, q);
  }
  out.path = std::string(tail);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    out.had_userinfo = true;
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    return Error{name + ": an IPv6 address literal is not supported as an API target; use a host name"};
  }
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    out.had_port = true;
    authority = authority.substr(0, colon);
  }
  std::string host = text::to_lower(authority);
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (!is_host_name(host)) {
    if (show_host) {
      return Error{name + ": \"" + std::string(authority) + "\" is not a host name"};
    }
    return Error{name + ": no valid host name in the value (not shown: it may hold a secret)"};
  }
  out.host = std::move(host);
  return out;
}

Result<ReducedTarget> reduce_api_target(std::string_view variable, std::string_view value) {
  AWF_TRY_ASSIGN(LooseUrl url, split_loose_url(variable, value, true));
  std::vector<std::string_view> dropped;
  if (url.had_scheme) dropped.push_back("scheme");
  if (url.had_userinfo) dropped.push_back("user info");
  if (url.had_port) dropped.push_back("port");
  if (!url.path.empty() && url.path != "/") dropped.push_back("path");
  if (url.had_query) dropped.push_back("query");
  if (url.had_fragment) dropped.push_back("fragment");
  ReducedTarget out{url.host, std::nullopt};
  if (!dropped.empty()) {
    std::string base_var(variable);
    if (base_var.ends_with("_TARGET")) base_var = base_var.substr(0, base_var.size() - 7) + "_BASE_PATH";
    out.warning = std::string(variable) + ": using the host \"" + url.host + "\" only; dropped the " +
                  join_words(dropped) + " (the upstream is always https://<host>:443; a path prefix belongs in " +
                  base_var + ")";
  }
  return out;
}

Result<std::string> normalize_base_path(std::string_view variable, std::string_view value) {
  const std::string_view v = text::trim(value);
  if (v.empty()) return std::string();
  for (char c : v) {
    if (c == '?' || c == '#' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Error{std::string(variable) + ": a base path is a plain path such as /openai/v1 (no query, fragment, "
                                           "spaces or control characters)"};
    }
  }
  std::string path = normalize_path(v.front() == '/' ? std::string(v) : "/" + std::string(v));
  // One slash between segments: the prefix is joined to paths that begin
  // with their own.
  std::string single;
  for (char c : path) {
    if (c != '/' || single.empty() || single.back() != '/') single += c;
  }
  path = std::move(single);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace awf::api
