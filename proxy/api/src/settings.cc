// Reading the API proxy's configuration from its environment.
#include "awf/api/settings.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "awf/api/rewrite.h"
#include "federation_detail.h"
#include "target.h"
#include "text.h"

namespace awf::api {

namespace {

// A variable's value, trimmed; "" when unset.
std::string_view get(const Environment& env, const std::string& name) {
  const auto it = env.find(name);
  return it == env.end() ? std::string_view() : text::trim(it->second);
}

// Headers the proxy owns: the framing and routing ones it sets itself, the
// hop-by-hop ones it never forwards, and the credential ones it strips from
// every request. Neither a custom credential header nor an extra BYOK
// header may be one of them.
bool is_managed_header(std::string_view lower) {
  for (std::string_view h : {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                             "proxy-connection", "te", "trailer", "upgrade", "forwarded", "via", "x-request-id",
                             "proxy-authorization"}) {
    if (lower == h) return true;
  }
  return lower.starts_with("x-forwarded-");
}

bool is_credential_header(std::string_view lower) {
  return lower == "authorization" || lower == "x-api-key" || lower == "x-goog-api-key" ||
         lower == "proxy-authorization";
}

// AWF_OPENAI_AUTH_HEADER / AWF_ANTHROPIC_AUTH_HEADER: the name of a header
// that carries the raw key instead of the provider's own (a gateway's).
Result<std::string> read_custom_auth_header(const Environment& env, const std::string& variable) {
  const std::string_view value = get(env, variable);
  if (value.empty()) return std::string();
  if (!text::is_token(value)) {
    return Error{variable + ": \"" + std::string(value) + "\" is not a valid HTTP header name"};
  }
  std::string lower = text::to_lower(value);
  if (is_managed_header(lower)) {
    return Error{variable + ": \"" + std::string(value) +
                 "\" cannot carry the credential: the proxy sets or removes that header itself"};
  }
  return lower;
}

struct TargetAndPath {
  std::string host;
  std::string base_path;
};

Result<TargetAndPath> read_target(const Environment& env, const std::string& target_var, const std::string& path_var,
                                  std::string_view fallback_host, std::vector<std::string>& warnings) {
  TargetAndPath out{std::string(fallback_host), ""};
  if (const auto value = get(env, target_var); !value.empty()) {
    AWF_TRY_ASSIGN(ReducedTarget target, reduce_api_target(target_var, value));
    if (target.warning) warnings.push_back(*target.warning);
    out.host = std::move(target.host);
  }
  AWF_TRY_ASSIGN(out.base_path, normalize_base_path(path_var, get(env, path_var)));
  return out;
}

// COPILOT_PROVIDER_BASE_URL: a BYOK provider's host and path prefix. The
// whole URL may be secret (a tenant name, a token in the path), so neither
// warnings nor logs show its host.
struct ByokUrl {
  std::string host;
  std::string base_path;
};

Result<std::optional<ByokUrl>> read_byok_url(const Environment& env, std::vector<std::string>& warnings) {
  const std::string variable = "COPILOT_PROVIDER_BASE_URL";
  const std::string_view value = get(env, variable);
  if (value.empty()) return std::optional<ByokUrl>();
  AWF_TRY_ASSIGN(LooseUrl url, split_loose_url(variable, value, false));
  std::vector<std::string_view> dropped;
  if (url.had_userinfo) dropped.push_back("user info");
  if (url.had_port) dropped.push_back("port");
  if (url.had_query) dropped.push_back("query");
  if (url.had_fragment) dropped.push_back("fragment");
  if (!dropped.empty()) {
    warnings.push_back(variable + ": dropped the " + join_words(dropped) + " (the upstream is always https://<host>:443)");
  }
  AWF_TRY_ASSIGN(std::string base_path, normalize_base_path(variable, url.path));
  return std::optional<ByokUrl>(ByokUrl{url.host, base_path});
}

// GitHub's Copilot API for the GitHub instance the workflow runs on.
std::string copilot_host_for_server(std::string_view server_url) {
  if (server_url.empty()) return std::string(default_host(Provider::copilot));
  auto url = split_loose_url("GITHUB_SERVER_URL", server_url, true);
  if (!url || url->host.empty() || url->host == "github.com") return std::string(default_host(Provider::copilot));
  const std::string& host = url->host;
  if (text::iends_with(host, ".ghe.com")) {
    return "copilot-api." + host.substr(0, host.size() - 8) + ".ghe.com";
  }
  return "api.enterprise.githubcopilot.com";
}

// AWF_BYOK_EXTRA_HEADERS: a JSON object of header names to string values.
// Best effort, as awf: what cannot be used is skipped with a warning.
std::vector<Header> read_extra_headers(const Environment& env, std::vector<std::string>& warnings) {
  const std::string variable = "AWF_BYOK_EXTRA_HEADERS";
  const std::string_view raw = get(env, variable);
  std::vector<Header> out;
  if (raw.empty()) return out;
  boost::system::error_code ec;
  const auto value = boost::json::parse(boost::json::string_view(raw.data(), raw.size()), ec);
  if (ec || !value.is_object()) {
    warnings.push_back(variable + ": expected a JSON object of header names and string values; ignored");
    return out;
  }
  for (const auto& member : value.get_object()) {
    const std::string name(member.key());
    const std::string lower = text::to_lower(name);
    if (!text::is_token(name)) {
      warnings.push_back(variable + ": \"" + name + "\" is not a valid HTTP header name; skipped");
    } else if (is_credential_header(lower) || is_managed_header(lower)) {
      warnings.push_back(variable + ": \"" + name + "\" is a header the proxy manages (credentials, framing, "
                                                     "routing) and cannot be set here; skipped");
    } else if (!member.value().is_string()) {
      warnings.push_back(variable + ": the value of \"" + name + "\" must be a string; skipped");
    } else if (const auto& v = member.value().get_string(); !text::is_single_line(std::string_view(v.data(), v.size()))) {
      warnings.push_back(variable + ": the value of \"" + name + "\" has a line break or NUL; skipped");
    } else {
      out.push_back({name, std::string(v.data(), v.size())});
    }
  }
  return out;
}

// AWF_BYOK_EXTRA_BODY_FIELDS: top-level string fields added to JSON request
// bodies that do not have them already.
std::vector<std::pair<std::string, std::string>> read_extra_body_fields(const Environment& env,
                                                                        std::vector<std::string>& warnings) {
  const std::string variable = "AWF_BYOK_EXTRA_BODY_FIELDS";
  const std::string_view raw = get(env, variable);
  std::vector<std::pair<std::string, std::string>> out;
  if (raw.empty()) return out;
  boost::system::error_code ec;
  const auto value = boost::json::parse(boost::json::string_view(raw.data(), raw.size()), ec);
  if (ec || !value.is_object()) {
    warnings.push_back(variable + ": expected a JSON object of field names and string values; ignored");
    return out;
  }
  for (const auto& member : value.get_object()) {
    const std::string name(member.key());
    if (!member.value().is_string()) {
      warnings.push_back(variable + ": the value of \"" + name + "\" must be a string; skipped");
      continue;
    }
    const auto& v = member.value().get_string();
    out.emplace_back(name, std::string(v.data(), v.size()));
  }
  return out;
}

bool is_run_id(std::string_view s) { return !s.empty() && s.size() <= 64 && is_valid_request_id(s); }

}  // namespace

bool ProviderConfig::configured() const {
  if (key || federated) return true;
  return provider == Provider::copilot && github_token && is_github_catalog_host(host);
}

bool is_githubcopilot_host(std::string_view host) {
  return text::iequals(host, "githubcopilot.com") || text::iends_with(host, ".githubcopilot.com");
}

bool is_github_catalog_host(std::string_view host) {
  return is_githubcopilot_host(host) || (text::istarts_with(host, "copilot-api.") && text::iends_with(host, ".ghe.com"));
}

Result<ProviderSettings> read_provider_settings(const Environment& env) {
  ProviderSettings s;
  auto& warnings = s.warnings;
  AWF_TRY_ASSIGN(s.anthropic_federation, read_anthropic_federation(env, warnings));
  for (Provider p : kProviders) {
    s.at(p).provider = p;
    s.at(p).host = std::string(default_host(p));
  }

  // Read once, used by two providers: Azure BYOK borrows them for OpenAI.
  AWF_TRY_ASSIGN(const std::optional<Secret> byok_key, read_secret(env, "COPILOT_PROVIDER_API_KEY", warnings));
  AWF_TRY_ASSIGN(const std::optional<ByokUrl> byok_url, read_byok_url(env, warnings));
  const bool azure = text::iequals(get(env, "COPILOT_PROVIDER_TYPE"), "azure");
  if (byok_url) s.secret_hosts.push_back(byok_url->host);

  {  // OpenAI (and Azure OpenAI through COPILOT_PROVIDER_TYPE=azure).
    auto& c = s.at(Provider::openai);
    AWF_TRY_ASSIGN(c.key, read_secret(env, "OPENAI_API_KEY", warnings));
    AWF_TRY_ASSIGN(TargetAndPath t, read_target(env, "OPENAI_API_TARGET", "OPENAI_API_BASE_PATH",
                                                default_host(Provider::openai), warnings));
    const bool explicit_target = !get(env, "OPENAI_API_TARGET").empty();
    c.host = t.host;
    c.base_path = t.base_path;
    if (azure) {
      if (!c.key) c.key = byok_key;
      if (!explicit_target && byok_url) c.host = byok_url->host;
      if (c.base_path.empty() && byok_url) c.base_path = byok_url->base_path;
    }
    // The public API is versioned under /v1 and some tools send /responses;
    // a gateway named by the operator lays out its own paths.
    if (c.base_path.empty() && c.host == default_host(Provider::openai)) c.base_path = "/v1";
    c.keep_paths_under_base = true;
    AWF_TRY_ASSIGN(c.custom_auth_header, read_custom_auth_header(env, "AWF_OPENAI_AUTH_HEADER"));
    if (c.custom_auth_header.empty() && azure) c.custom_auth_header = "api-key";  // Azure's key header
    if (!c.custom_auth_header.empty()) {
      c.auth_header = c.custom_auth_header;
      c.auth_style = AuthStyle::raw;
    } else {
      c.auth_header = "authorization";
      c.auth_style = AuthStyle::bearer;
    }
  }

  {  // Anthropic.
    auto& c = s.at(Provider::anthropic);
    AWF_TRY_ASSIGN(c.key, read_secret(env, "ANTHROPIC_API_KEY", warnings));
    AWF_TRY_ASSIGN(TargetAndPath t, read_target(env, "ANTHROPIC_API_TARGET", "ANTHROPIC_API_BASE_PATH",
                                                default_host(Provider::anthropic), warnings));
    c.host = t.host;
    c.base_path = t.base_path;
    AWF_TRY_ASSIGN(c.custom_auth_header, read_custom_auth_header(env, "AWF_ANTHROPIC_AUTH_HEADER"));
    c.auth_header = c.custom_auth_header.empty() ? "x-api-key" : c.custom_auth_header;
    c.auth_style = AuthStyle::raw;
    if (s.anthropic_federation) use_federated_token(c, warnings);
    const std::string auto_cache = text::to_lower(get(env, "AWF_ANTHROPIC_AUTO_CACHE"));
    if (auto_cache == "1" || auto_cache == "true") {
      warnings.push_back("AWF_ANTHROPIC_AUTO_CACHE is not supported by this build of the API proxy; ignored");
    }
  }

  {  // GitHub Copilot: GitHub's API with a GitHub token, or a BYOK provider.
    auto& c = s.at(Provider::copilot);
    AWF_TRY_ASSIGN(c.github_token, read_secret(env, "COPILOT_GITHUB_TOKEN", warnings));
    c.key = byok_key;
    c.byok = byok_key.has_value() || byok_url.has_value();
    if (byok_url) {
      c.host = byok_url->host;
      c.base_path = byok_url->base_path;
    } else if (const auto target = get(env, "COPILOT_API_TARGET"); !target.empty()) {
      AWF_TRY_ASSIGN(ReducedTarget t, reduce_api_target("COPILOT_API_TARGET", target));
      if (t.warning) warnings.push_back(*t.warning);
      c.host = t.host;
    } else {
      c.host = copilot_host_for_server(get(env, "GITHUB_SERVER_URL"));
    }
    if (const auto path = get(env, "COPILOT_API_BASE_PATH"); !path.empty()) {
      AWF_TRY_ASSIGN(c.base_path, normalize_base_path("COPILOT_API_BASE_PATH", path));
    }
    c.auth_header = "authorization";
    c.auth_style = AuthStyle::bearer;
    if (c.github_token && !is_github_catalog_host(c.host)) {
      warnings.push_back(std::string("COPILOT_GITHUB_TOKEN is not used: the Copilot upstream ") +
                         (byok_url ? "(from COPILOT_PROVIDER_BASE_URL)" : "\"" + c.host + "\"") +
                         " is not GitHub's Copilot API, and GitHub tokens go only to *.githubcopilot.com and "
                         "copilot-api.*.ghe.com");
    }
    c.extra_headers = read_extra_headers(env, warnings);
    c.extra_body_fields = read_extra_body_fields(env, warnings);
    s.copilot_agent_routed = c.github_token.has_value() || c.byok;
    s.copilot_model = std::string(get(env, "COPILOT_MODEL"));
  }

  {  // Gemini and Vertex AI: Google API keys.
    auto& g = s.at(Provider::gemini);
    AWF_TRY_ASSIGN(g.key, read_secret(env, "GEMINI_API_KEY", warnings));
    AWF_TRY_ASSIGN(TargetAndPath gt, read_target(env, "GEMINI_API_TARGET", "GEMINI_API_BASE_PATH",
                                                 default_host(Provider::gemini), warnings));
    g.host = gt.host;
    g.base_path = gt.base_path;
    auto& v = s.at(Provider::vertex);
    AWF_TRY_ASSIGN(v.key, read_secret(env, "GOOGLE_API_KEY", warnings));
    AWF_TRY_ASSIGN(TargetAndPath vt, read_target(env, "VERTEX_API_TARGET", "VERTEX_API_BASE_PATH",
                                                 default_host(Provider::vertex), warnings));
    v.host = vt.host;
    v.base_path = vt.base_path;
    for (auto* c : {&g, &v}) {
      c->auth_header = "x-goog-api-key";
      c->auth_style = AuthStyle::raw;
    }
  }

  // The model policy: unset (or empty) variables mean no restriction; a
  // value that is there must be a usable list, or the start-up stops.
  for (const auto& [variable, slot] : {std::pair{"AWF_ALLOWED_MODELS", &s.model_policy.allowed},
                                       std::pair{"AWF_DISALLOWED_MODELS", &s.model_policy.disallowed}}) {
    const std::string_view raw = get(env, variable);
    if (raw.empty()) continue;
    AWF_TRY_ASSIGN(*slot, parse_model_list(variable, raw));
  }
  if (const std::string_view raw = get(env, "AWF_FALLBACK_MODELS"); !raw.empty()) {
    AWF_TRY_ASSIGN(s.fallback_models, parse_fallback_models("AWF_FALLBACK_MODELS", raw, s.model_policy));
  }

  // Copilot's request headers. One interaction id per workflow run attempt
  // lets GitHub's API keep its prompt cache across requests.
  const std::string_view run_id = get(env, "GITHUB_RUN_ID");
  const std::string_view attempt = get(env, "GITHUB_RUN_ATTEMPT");
  if (is_run_id(run_id)) {
    s.interaction_id = std::string(run_id) + "-" + (is_run_id(attempt) ? std::string(attempt) : "1");
  } else {
    s.interaction_id = random_uuid_v4();
  }
  if (const auto id = get(env, "COPILOT_INTEGRATION_ID"); !id.empty()) {
    if (text::is_single_line(id)) {
      s.integration_id = std::string(id);
    } else {
      warnings.push_back("COPILOT_INTEGRATION_ID has a line break or NUL; using \"agentic-workflows\"");
    }
  }
  return s;
}

}  // namespace awf::api
