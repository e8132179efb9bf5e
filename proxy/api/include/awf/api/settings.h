// The API proxy's configuration, read once at start-up from its environment
// (the variables awf's API proxy reads): per provider the upstream host, a
// base path and the credential; the model policy; Copilot's request ids.
// Every failure names the variable, never a credential's value.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/api/federation.h"
#include "awf/api/messages.h"
#include "awf/api/model_policy.h"
#include "awf/api/provider.h"
#include "awf/api/secret.h"
#include "awf/result.h"

namespace awf::api {

using Environment = std::map<std::string, std::string>;

// A credential variable: surrounding whitespace trimmed, a leading `Bearer `
// or `token ` (any case) removed. Unset, empty and placeholder values are no
// credential (a placeholder also adds a warning). A CR, LF or NUL left inside
// is an error naming the variable: it would split or cut the header line.
Result<std::optional<Secret>> read_secret(const Environment& env, const std::string& name,
                                          std::vector<std::string>& warnings);

// A `*_API_TARGET` value reduced to the bare host name awf connects to:
// scheme, user info, port, path, query and fragment are dropped, and the
// warning names what was dropped (not its value: a path or user info may
// hold a token). Lower case, no trailing dot. Error when no valid host name
// is left.
struct ReducedTarget {
  std::string host;
  std::optional<std::string> warning;
};
Result<ReducedTarget> reduce_api_target(std::string_view variable, std::string_view value);

// A `*_API_BASE_PATH` value: "" or "/a/b" (leading slash added, trailing
// slashes and dot segments removed). Error for `?`, `#`, spaces or controls.
Result<std::string> normalize_base_path(std::string_view variable, std::string_view value);

// How the key travels upstream.
enum class AuthStyle {
  bearer,  // `<header>: Bearer <key>`
  raw,     // `<header>: <key>`
};

struct ProviderConfig {
  Provider provider = Provider::openai;
  std::string host;       // upstream is https://host:443
  std::string base_path;  // prefixed to every path after normalisation ("" for none)
  // OpenAI: a path already under base_path is not prefixed again, so SDKs
  // sending /v1/... and tools sending /responses both reach /v1/...
  bool keep_paths_under_base = false;

  std::optional<Secret> key;          // the static key (Copilot: the BYOK key)
  // Anthropic workload identity federation: the credential is the access
  // token awf-proxy's token source holds, sent as `Authorization: Bearer`.
  bool federated = false;
  std::string auth_header;            // lower case: authorization, x-api-key, x-goog-api-key, api-key or custom
  AuthStyle auth_style = AuthStyle::bearer;
  std::string custom_auth_header;     // AWF_*_AUTH_HEADER / Azure `api-key`, lower case; "" for none

  // Copilot only.
  std::optional<Secret> github_token;  // COPILOT_GITHUB_TOKEN
  bool byok = false;                   // COPILOT_PROVIDER_API_KEY or COPILOT_PROVIDER_BASE_URL given
  std::vector<Header> extra_headers;   // AWF_BYOK_EXTRA_HEADERS (never credential headers)
  std::vector<std::pair<std::string, std::string>> extra_body_fields;  // AWF_BYOK_EXTRA_BODY_FIELDS

  // A credential the proxy will send: without one the listener answers every
  // request (but /health) with the provider's "not configured" reply.
  bool configured() const;
};

struct ProviderSettings {
  std::array<ProviderConfig, kProviders.size()> providers;
  ModelPolicy model_policy;
  // AWF_FALLBACK_MODELS in order (entries may carry a "<provider>/" prefix:
  // see fallback_models_for in retry.h); empty: no fallback.
  std::vector<std::string> fallback_models;
  std::string interaction_id;                       // Copilot X-Interaction-Id when the client sends none
  std::string integration_id = "agentic-workflows";  // Copilot-Integration-Id when the client sends none
  std::string copilot_model;                        // COPILOT_MODEL (the agent's wire API choice)
  // Copilot's agent variables are set (and the real ones withheld) when a
  // GitHub token, a BYOK key or a BYOK URL was given, even if no request can
  // be authenticated: the real BYOK URL must not reach the agent either.
  bool copilot_agent_routed = false;
  std::vector<std::string> secret_hosts;  // hosts never printed in logs (from COPILOT_PROVIDER_BASE_URL)
  // AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic (federation.h).
  std::optional<AnthropicFederation> anthropic_federation;
  std::vector<std::string> warnings;      // one line each, for the start-up log

  const ProviderConfig& at(Provider p) const { return providers[index_of(p)]; }
  ProviderConfig& at(Provider p) { return providers[index_of(p)]; }
};

// Reads every provider's configuration. Errors stop the start-up: a
// credential with a line break, an unusable target or base path, an invalid
// custom auth header name, an empty or malformed model list, a fallback
// model that is a pattern or that the policy refuses, or an OIDC
// setting read_anthropic_federation() refuses (OIDC for Azure, AWS or GCP,
// a missing federation variable).
Result<ProviderSettings> read_provider_settings(const Environment& env);

// GitHub's Copilot API hosts (*.githubcopilot.com, copilot-api.*.ghe.com):
// the only hosts a GitHub token is ever sent to.
bool is_github_catalog_host(std::string_view host);

// *.githubcopilot.com: the hosts that get Copilot's own request headers.
bool is_githubcopilot_host(std::string_view host);

}  // namespace awf::api
