// Whether this run gets the API proxy (LLM credential isolation) and with
// what: the providers whose credentials are in awf's environment, the
// variables awf-proxy is started with (targets, base paths, model lists from
// flags and --config), the CA file for its provider connections, and what the
// agent's environment says about it (awf_api's agent_environment()).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "awf/api/agent_environment.h"
#include "awf/api/provider.h"
#include "awf/cli/environment.h"
#include "awf/result.h"

namespace awf::cli {

// What the command line and --config say about the API proxy.
struct ApiProxyRequest {
  bool disabled = false;  // --no-api-proxy
  std::string ca_cert;    // --api-proxy-ca-cert, else apiProxy.caCert
  // awf's target, base-path and auth-header flags, by flag name
  // ("--openai-api-target" -> "gw.example.com").
  std::map<std::string, std::string> flags;
  std::optional<std::vector<std::string>> allowed_models;     // apiProxy.allowedModels
  std::optional<std::vector<std::string>> disallowed_models;  // apiProxy.disallowedModels
  std::optional<std::vector<std::string>> fallback_models;    // apiProxy.fallbackModels
};

struct ApiProxySettings {
  // On when a provider's credential is in awf's environment (a key, a
  // Copilot GitHub token or BYOK setting) and --no-api-proxy was not given.
  bool enabled = false;
  std::vector<api::Provider> configured;  // providers with a credential, kProviders order
  std::string ca_cert;                    // absolute path; empty: the system store only
  // Set in awf-proxy's environment over awf's own, which it inherits (the
  // real keys among it): targets and base paths from flags, the model lists
  // and fallback models from --config as JSON arrays.
  Environment proxy_env;
  // Removed from awf-proxy's environment: the Actions runtime's OIDC token
  // request URL and token unless AWF_AUTH_TYPE=github-oidc (with the API
  // proxy on) asks for them.
  std::vector<std::string> proxy_unset;
  // Set last in the agent's environment; empty when the proxy is off.
  api::AgentApiEnvironment agent;
  std::vector<std::string> warnings;  // text for `[WARN] ` lines; never a credential
};

// The awf flags that configure the API proxy's upstreams, and the variable
// each one sets in awf-proxy's environment: --openai-api-target ->
// OPENAI_API_TARGET, --anthropic-api-base-path -> ANTHROPIC_API_BASE_PATH,
// --openai-auth-header -> AWF_OPENAI_AUTH_HEADER, ...
const std::map<std::string, std::string>& api_proxy_flag_variables();

// Reads the providers' settings the way awf-proxy will (awf_api's
// read_provider_settings over awf's environment with the flags' variables
// on top), so a setting the proxy would refuse stops awf before anything
// starts. Errors: the CA file cannot be read; an empty model list in
// --config; whatever awf_api refuses (a credential with a line break, an
// unusable target or base path, a malformed model list, a fallback model
// the policy refuses, OIDC), each with a hint that --no-api-proxy runs
// without it.
Result<ApiProxySettings> resolve_api_proxy(const ApiProxyRequest& request, const Environment& host);

}  // namespace awf::cli
