// The per-request steps of the API proxy, in order (see awf/api/rewrite.h).
#include "awf/api/rewrite.h"

#include <algorithm>

#include "awf/api/request_path.h"
#include "body_rules.h"
#include "federation_detail.h"
#include "replies.h"
#include "text.h"

namespace awf::api {

namespace {

// Calls f(item) for each comma-separated, trimmed, non-empty list item.
template <typename F>
void for_each_item(std::string_view list, F&& f) {
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const std::string_view item = text::trim(list.substr(start, comma == std::string_view::npos ? list.npos : comma - start));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

bool lists_token(const std::vector<Header>& headers, std::string_view name, std::string_view token) {
  bool found = false;
  for (const auto& h : headers) {
    if (!text::iequals(h.name, name)) continue;
    for_each_item(h.value, [&](std::string_view item) { found = found || text::iequals(item, token); });
  }
  return found;
}

bool is_websocket_upgrade(const ApiRequest& request) {
  return request.method == "GET" && lists_token(request.headers, "upgrade", "websocket") &&
         lists_token(request.headers, "connection", "upgrade");
}

// Headers never copied from the agent's request: the ones that route or
// frame it (the proxy sets its own), every credential header of every
// provider and the configured custom one (in whatever case the agent spells
// it, so no second copy travels beside the injected one), proxy metadata
// that would tell the provider about the sandbox, and hop-by-hop headers,
// including those the agent's Connection header names.
bool is_stripped(std::string_view lower, const ProviderConfig& config, const std::vector<std::string>& connection) {
  static constexpr std::string_view kStripped[] = {
      "host",       "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key",
      "forwarded",  "via",           "connection",          "keep-alive", "proxy-connection",
      "te",         "trailer",       "transfer-encoding",   "upgrade",    "content-length",
      "x-request-id"};
  for (auto name : kStripped) {
    if (lower == name) return true;
  }
  if (lower.starts_with("x-forwarded-")) return true;
  if (!config.custom_auth_header.empty() && lower == config.custom_auth_header) return true;
  return std::find(connection.begin(), connection.end(), lower) != connection.end();
}

// Codings the proxy and the agent's SDKs all read (zstd and others are
// dropped: usage accounting reads response bodies).
std::string trimmed_accept_encoding(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) {
    for_each_item(value, [&](std::string_view item) {
      const std::string coding = text::to_lower(text::trim(item.substr(0, item.find(';'))));
      if (coding == "gzip" || coding == "deflate" || coding == "br" || coding == "identity") {
        if (!out.empty()) out += ", ";
        out += item;
      }
    });
  }
  return out;
}

// Every anthropic-beta value the client sent, once each, in order.
std::string merged_betas(const std::vector<std::string>& values) {
  std::vector<std::string_view> seen;
  std::string out;
  for (const auto& value : values) {
    for_each_item(value, [&](std::string_view item) {
      if (std::find(seen.begin(), seen.end(), item) != seen.end()) return;
      seen.push_back(item);
      if (!out.empty()) out += ',';
      out += item;
    });
  }
  return out;
}

// The first non-empty value the client gave, else `fallback`.
std::string first_or(const std::vector<std::string>& values, const std::string& fallback) {
  for (const auto& v : values) {
    if (!text::trim(v).empty()) return std::string(text::trim(v));
  }
  return fallback;
}

void remove_headers(std::vector<Header>& headers, std::string_view name) {
  std::erase_if(headers, [&](const Header& h) { return text::iequals(h.name, name); });
}

// The API version GitHub's Copilot API expects for the routes that need one.
const char* github_api_version(std::string_view method, std::string_view path) {
  if (method == "POST" && path == "/auto") return "2026-08-01";
  if (method == "POST" && (path == "/models/session" || path == "/models/session/intent")) return "2025-07-16";
  if (method == "GET" && path == "/models") return "2026-07-01";
  return nullptr;
}

// Copilot's credential for this request, and the scheme it travels with.
// GitHub tokens go only to GitHub's own hosts; there a model-catalog read
// uses the GitHub token (the catalog takes no BYOK key) and everything else
// the BYOK key when one is configured.
std::string copilot_authorization(const ProviderConfig& config, std::string_view method, std::string_view path) {
  const bool catalog_read = method == "GET" && (path == "/models" || path.starts_with("/models/"));
  if (config.github_token && is_github_catalog_host(config.host) && (catalog_read || !config.key)) {
    const std::string_view token = config.github_token->reveal();
    // Classic GitHub tokens on GitHub Enterprise Server and business hosts
    // take the `token` scheme; fine-grained ones (github_pat_) and every
    // other host take Bearer.
    const bool enterprise =
        text::iequals(config.host, "api.enterprise.githubcopilot.com") ||
        text::iequals(config.host, "api.business.githubcopilot.com");
    const bool classic = !token.starts_with("github_pat_");
    return std::string(enterprise && classic ? "token " : "Bearer ") + std::string(token);
  }
  if (config.key) return "Bearer " + std::string(config.key->reveal());
  return "";
}

std::string canonical_auth_name(std::string_view lower) {
  if (lower == "authorization") return "Authorization";
  return std::string(lower);
}

bool is_google(Provider p) { return p == Provider::gemini || p == Provider::vertex; }

}  // namespace

Rewritten rewrite_request(const ProviderSettings& settings, Provider provider, ApiRequest request,
                          const Secret* federated_token) {
  const ProviderConfig& config = settings.at(provider);
  const std::string request_id = choose_request_id(request.headers);
  if (config.federated && !federated_token) {
    // Federation on, no access token yet (or the last one expired): answered
    // here, retryable, never sent without a credential.
    if (request.method == "GET" && request.target == "/health") {
      return federation_pending_health_reply(provider, request_id);
    }
    return federation_pending_reply(provider, request_id);
  }

  // 1. Answered here, never forwarded: the exact health path, and every
  //    request to a provider without credentials.
  if (request.method == "GET" && request.target == "/health") return health_reply(settings, provider, request_id);
  if (!config.configured()) return not_configured_reply(provider, request_id);

  // 2. The target: origin form only, dot segments resolved, then the base
  //    path in front, so `..` cannot climb above it. Gemini SDKs also put the
  //    (placeholder) key in the query; Google refuses a request carrying two.
  if (!is_origin_form(request.target)) return bad_target_reply(request_id);
  const SplitTarget parts = split_target(request.target);
  const std::string path = normalize_path(parts.path);
  std::string query(parts.query);
  bool has_query = parts.has_query;
  if (provider == Provider::gemini && has_query) {
    query = remove_query_params(query, {"key", "apiKey", "api_key"});
    has_query = !query.empty();
  }
  std::string target = join_base_path(config.base_path, path, config.keep_paths_under_base);
  if (has_query) target += "?" + query;

  // 3. The body.
  if (request.body.size() > kMaxBodyBytes) return body_too_large_reply(request_id);
  const bool websocket = is_websocket_upgrade(request);
  BodyResult body = apply_body_rules(config, request.method, path, request.body);
  const bool had_framing = find_header(request.headers, "content-length") ||
                           find_header(request.headers, "transfer-encoding");

  // 4. Headers: the agent's, less what it may not set, then ours.
  std::vector<std::string> connection;
  for (const auto& v : header_values(request.headers, "connection")) {
    for_each_item(v, [&](std::string_view item) { connection.push_back(text::to_lower(item)); });
  }
  const bool copilot_host = provider == Provider::copilot && is_githubcopilot_host(config.host);
  std::vector<Header> headers;
  headers.reserve(request.headers.size() + 8);
  headers.push_back({"Host", config.host});
  std::vector<std::string> accept_encoding, betas, interaction_ids, integration_ids;
  for (auto& h : request.headers) {
    const std::string lower = text::to_lower(h.name);
    if (is_stripped(lower, config, connection)) continue;
    if (lower == "accept-encoding") {
      accept_encoding.push_back(std::move(h.value));
    } else if (provider == Provider::anthropic && lower == "anthropic-beta") {
      betas.push_back(std::move(h.value));
    } else if (copilot_host && lower == "x-interaction-id") {
      interaction_ids.push_back(std::move(h.value));
    } else if (copilot_host && lower == "copilot-integration-id") {
      integration_ids.push_back(std::move(h.value));
    } else {
      headers.push_back(std::move(h));
    }
  }
  if (const std::string codings = trimmed_accept_encoding(accept_encoding); !codings.empty()) {
    headers.push_back({"Accept-Encoding", codings});
  }
  if (provider == Provider::anthropic) {
    if (config.federated) betas.emplace_back(kOAuthBeta);  // once, after the client's own
    if (!find_header(headers, "anthropic-version")) headers.push_back({"anthropic-version", "2023-06-01"});
    if (const std::string merged = merged_betas(betas); !merged.empty()) headers.push_back({"anthropic-beta", merged});
  }
  if (copilot_host) {
    // Exactly one of each: GitHub's API keys its prompt cache on the
    // interaction id and bills agent turns by x-initiator.
    headers.push_back({"X-Interaction-Id", first_or(interaction_ids, settings.interaction_id)});
    headers.push_back({"Copilot-Integration-Id", first_or(integration_ids, settings.integration_id)});
    if (!find_header(headers, "x-initiator")) headers.push_back({"x-initiator", "agent"});
    if (!find_header(headers, "x-github-api-version")) {
      if (const char* version = github_api_version(request.method, path)) {
        headers.push_back({"X-GitHub-Api-Version", version});
      }
    }
  }
  if (provider == Provider::copilot) {
    for (const auto& extra : config.extra_headers) {
      remove_headers(headers, extra.name);
      headers.push_back(extra);
    }
  }
  std::string credential;
  if (provider == Provider::copilot) {
    credential = copilot_authorization(config, request.method, path);
  } else if (config.federated) {
    credential = "Bearer " + std::string(federated_token->reveal());
  } else if (config.key) {
    credential = (config.auth_style == AuthStyle::bearer ? "Bearer " : "") + std::string(config.key->reveal());
  }
  if (!credential.empty()) headers.push_back({canonical_auth_name(config.auth_header), std::move(credential)});
  headers.push_back({"X-Request-ID", request_id});
  if (websocket) {
    headers.push_back({"Connection", "Upgrade"});
    headers.push_back({"Upgrade", "websocket"});
  }
  std::string final_body = body.changed ? std::move(body.body) : std::move(request.body);
  if (!final_body.empty() || had_framing) headers.push_back({"Content-Length", std::to_string(final_body.size())});

  // 5. The model policy, on the final request: the body's model after the
  //    prefix rule, every model a Gemini/Vertex path names, a WebSocket's
  //    `?model=`. Each one found must pass.
  std::vector<std::string> models;
  if (body.model_state == BodyResult::Model::named) models.push_back(body.model);
  if (is_google(provider)) {
    for (auto& m : models_in_path(path)) models.push_back(std::move(m));
  }
  if (websocket && has_query) {
    if (auto m = query_param(query, "model")) models.push_back(std::move(*m));
  }
  const ModelPolicy& policy = settings.model_policy;
  if (policy.active()) {
    if (body.model_state == BodyResult::Model::unreadable) {
      return policy_reply({PolicyReason::model_unverifiable,
                           "The request body's model cannot be read unambiguously (the body is not valid JSON, "
                           "\"model\" is not a string, or it is named twice) and a model policy is set"},
                          std::nullopt, request_id);
    }
    if (models.empty() && is_google(provider)) {
      return policy_reply({PolicyReason::model_missing,
                           "The request names no model (expected .../models/<model>:<method> in the path) and a "
                           "model policy is set"},
                          std::nullopt, request_id);
    }
    for (const auto& m : models) {
      const PolicyVerdict verdict = check_model(policy, m);
      if (!verdict.allowed()) return policy_reply(verdict, m, request_id);
    }
  }

  UpstreamRequest out;
  out.host = config.host;
  out.port = 443;
  out.method = std::move(request.method);
  out.target = std::move(target);
  out.headers = std::move(headers);
  out.body = std::move(final_body);
  out.request_id = request_id;
  out.model = models.empty() ? std::string() : models.front();
  out.websocket = websocket;
  return out;
}

}  // namespace awf::api
