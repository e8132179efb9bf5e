// The API rewrite under arbitrary input, shared by the libFuzzer target and
// the corpus replay in the normal build. Input: a provider name line, a
// request line ("METHOD target"), header lines, a blank line, the body;
// whatever is missing takes a default. check_rewrite() returns "" when every
// invariant held, else what broke.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "awf/api/model_policy.h"
#include "awf/api/request_path.h"
#include "awf/api/rewrite.h"
#include "awf/api/settings.h"

namespace awf::api::fuzz {

inline const ProviderSettings& fuzz_settings() {
  static const ProviderSettings s = [] {
    const Environment env = {
        {"OPENAI_API_KEY", "sk-fuzz-openai-key"},
        {"ANTHROPIC_API_KEY", "sk-ant-fuzz-key"},
        {"ANTHROPIC_API_BASE_PATH", "/p"},
        {"AWF_ANTHROPIC_AUTH_HEADER", "X-Gateway-Key"},
        {"COPILOT_GITHUB_TOKEN", "ghu_fuzztoken"},
        {"GEMINI_API_KEY", "gemini-fuzz-key"},
        {"GEMINI_API_BASE_PATH", "/g/h"},
        {"GOOGLE_API_KEY", "google-fuzz-key"},
        {"AWF_ALLOWED_MODELS", R"(["gpt-*","claude-*","gemini-*","auto"])"},
        {"AWF_DISALLOWED_MODELS", R"(["*opus*"])"},
    };
    return read_provider_settings(env).value();
  }();
  return s;
}

inline std::string_view take_line(std::string_view& in) {
  const auto nl = in.find('\n');
  const std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}

struct FuzzCase {
  Provider provider = Provider::openai;
  ApiRequest request;
};

inline FuzzCase parse_case(std::string_view in) {
  FuzzCase c;
  const std::string_view name = take_line(in);
  if (auto p = provider_named(name)) {
    c.provider = *p;
  } else if (!name.empty()) {
    c.provider = kProviders[static_cast<unsigned char>(name[0]) % kProviders.size()];
  }
  const std::string_view start = take_line(in);
  const auto space = start.find(' ');
  c.request.method = std::string(start.substr(0, space));
  c.request.target = space == std::string_view::npos ? "/" : std::string(start.substr(space + 1));
  while (!in.empty()) {
    const std::string_view line = take_line(in);
    if (line.empty()) break;
    const auto colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    c.request.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  c.request.body = std::string(in);
  return c;
}

inline bool has_dot_segment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    std::string segment(path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
    for (auto at = segment.find("%2"); at != std::string::npos; at = segment.find("%2", at)) {
      if (at + 2 < segment.size() && (segment[at + 2] == 'e' || segment[at + 2] == 'E')) {
        segment.replace(at, 3, ".");
      } else {
        ++at;
      }
    }
    if (segment == "." || segment == "..") return true;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return false;
}

inline std::string check_rewrite(std::string_view input) {
  const ProviderSettings& settings = fuzz_settings();
  FuzzCase c = parse_case(input);
  const ProviderConfig& config = settings.at(c.provider);
  const std::string original_path(split_target(c.request.target).path);
  if (normalize_path(normalize_path(original_path)) != normalize_path(original_path)) return "normalize_path not idempotent";
  const Rewritten r = rewrite_request(settings, c.provider, c.request);

  if (const auto* reply = std::get_if<LocalReply>(&r)) {
    if (reply->body.empty() || reply->body.front() != '{') return "local reply without a JSON body";
    if (!find_header(reply->headers, "x-request-id")) return "local reply without X-Request-ID";
    if (reply->status == 200 && !(c.request.method == "GET" && c.request.target == "/health")) return "200 made locally";
    return "";
  }
  const auto& up = std::get<UpstreamRequest>(r);
  if (up.host != config.host || up.port != 443) return "upstream host or port not the configured one";
  if (!is_origin_form(up.target)) return "upstream target not in origin form";
  const std::string_view path = split_target(up.target).path;
  if (!config.base_path.empty() && !(path == config.base_path || path.starts_with(config.base_path + "/"))) {
    return "upstream path outside the base path";
  }
  if (has_dot_segment(path)) return "dot segment upstream";
  const auto hosts = header_values(up.headers, "host");
  if (hosts.size() != 1 || hosts[0] != config.host) return "Host header not the configured host";
  for (const char* name : {"proxy-authorization", "forwarded", "via", "transfer-encoding", "keep-alive", "te",
                           "trailer", "proxy-connection", "x-goog-api-key", "x-api-key", "authorization"}) {
    const auto v = header_values(up.headers, name);
    const bool credential = std::string_view(name) == config.auth_header;
    if (!credential && !v.empty()) return std::string("stripped header upstream: ") + name;
  }
  for (const auto& h : up.headers) {
    if (h.name.size() >= 12 && std::string_view(h.name).substr(0, 12) == "x-forwarded-") return "x-forwarded-* upstream";
  }
  if (c.provider != Provider::copilot) {
    const auto creds = header_values(up.headers, config.auth_header);
    const std::string expected =
        (config.auth_style == AuthStyle::bearer ? "Bearer " : "") + std::string(config.key->reveal());
    if (creds.size() != 1 || creds[0] != expected) return "credential header missing, doubled or wrong";
  }
  if (c.provider == Provider::gemini) {
    const std::string_view query = split_target(up.target).query;
    for (const char* name : {"key", "apiKey", "api_key"}) {
      if (query_param(query, name)) return "Gemini key parameter upstream";
    }
  }
  if (const auto length = header_values(up.headers, "content-length"); !length.empty()) {
    if (length.size() != 1 || length[0] != std::to_string(up.body.size())) return "Content-Length wrong";
  }
  if (!up.model.empty() && !check_model(settings.model_policy, up.model).allowed()) return "denied model upstream";
  if (up.request_id.empty()) return "no request id";
  return "";
}

}  // namespace awf::api::fuzz
