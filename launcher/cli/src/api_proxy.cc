// The API proxy's part of a run: on or off, the providers it serves, the
// variables awf-proxy gets, and what the agent's environment says about it.
#include "awf/cli/api_proxy.h"

#include <fcntl.h>

#include <cerrno>
#include <filesystem>

#include "awf/api/federation.h"
#include "awf/api/settings.h"
#include "awf/errno_text.h"
#include "awf/json_quote.h"
#include "awf/unique_fd.h"

namespace awf::cli {

namespace {

// `["a","b"]`: the form awf-proxy reads AWF_ALLOWED_MODELS (and the other
// model lists) in.
std::string json_string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ",";
    append_json_quoted(out, item);
  }
  return out + "]";
}

constexpr const char* kOffHint = " (--no-api-proxy runs without the API proxy)";

}  // namespace

const std::map<std::string, std::string>& api_proxy_flag_variables() {
  static const std::map<std::string, std::string> kVariables = {
      {"--openai-api-target", "OPENAI_API_TARGET"},
      {"--anthropic-api-target", "ANTHROPIC_API_TARGET"},
      {"--copilot-api-target", "COPILOT_API_TARGET"},
      {"--gemini-api-target", "GEMINI_API_TARGET"},
      {"--vertex-api-target", "VERTEX_API_TARGET"},
      {"--openai-api-base-path", "OPENAI_API_BASE_PATH"},
      {"--anthropic-api-base-path", "ANTHROPIC_API_BASE_PATH"},
      {"--copilot-api-base-path", "COPILOT_API_BASE_PATH"},
      {"--gemini-api-base-path", "GEMINI_API_BASE_PATH"},
      {"--vertex-api-base-path", "VERTEX_API_BASE_PATH"},
      {"--openai-auth-header", "AWF_OPENAI_AUTH_HEADER"},
      {"--anthropic-auth-header", "AWF_ANTHROPIC_AUTH_HEADER"},
  };
  return kVariables;
}

Result<ApiProxySettings> resolve_api_proxy(const ApiProxyRequest& request, const Environment& host) {
  ApiProxySettings out;
  if (request.disabled || !api::github_oidc_requested(host)) {
    out.proxy_unset = {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"};
  }

  // The variables awf-proxy will see besides awf's own: flags and --config
  // win over the host's values, since they were given for this run.
  for (const auto& [flag, value] : request.flags) {
    auto variable = api_proxy_flag_variables().find(flag);
    if (variable != api_proxy_flag_variables().end()) out.proxy_env[variable->second] = value;
  }
  struct ModelList {
    const char* key;
    const char* variable;
    const std::optional<std::vector<std::string>>* list;
    const char* unset;  // what leaving the key out means
  };
  for (const ModelList& m :
       {ModelList{"allowedModels", "AWF_ALLOWED_MODELS", &request.allowed_models, "no model restriction"},
        ModelList{"disallowedModels", "AWF_DISALLOWED_MODELS", &request.disallowed_models, "no model restriction"},
        ModelList{"fallbackModels", "AWF_FALLBACK_MODELS", &request.fallback_models, "no fallback"}}) {
    if (!*m.list) continue;
    // An empty list that quietly meant "no restriction" would switch the
    // policy off; one that meant "nothing" is not a way to run an agent.
    if ((*m.list)->empty()) {
      return Error{std::string("apiProxy.") + m.key + ": an empty list is not allowed; leave the key out for " +
                   m.unset};
    }
    out.proxy_env[m.variable] = json_string_array(**m.list);
  }

  if (request.disabled) {
    if (!request.ca_cert.empty()) out.warnings.push_back("--api-proxy-ca-cert is not used: --no-api-proxy was given");
    out.proxy_env.clear();
    return out;
  }

  Environment proxy_view = host;
  for (const auto& [name, value] : out.proxy_env) proxy_view[name] = value;
  auto settings = api::read_provider_settings(proxy_view);
  if (!settings) return Error{"API proxy: " + settings.message() + kOffHint};
  for (api::Provider p : api::kProviders) {
    const bool routed = p == api::Provider::copilot && settings->copilot_agent_routed;
    if (settings->at(p).configured() || routed) out.configured.push_back(p);
  }
  out.enabled = !out.configured.empty();
  if (!out.enabled) {
    // Nothing to hold: the run is what it was without an API proxy.
    if (!request.ca_cert.empty() || !out.proxy_env.empty()) {
      out.warnings.push_back(
          "API proxy settings are not used: no provider credential (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
          "COPILOT_GITHUB_TOKEN, COPILOT_PROVIDER_API_KEY, GEMINI_API_KEY, GOOGLE_API_KEY) is in awf's environment");
    }
    out.proxy_env.clear();
    return out;
  }
  out.warnings = settings->warnings;

  if (!request.ca_cert.empty()) {
    // Checked here, where the message can name the flag; awf-proxy parses it.
    const UniqueFd fd(::open(request.ca_cert.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error{"--api-proxy-ca-cert: cannot read \"" + request.ca_cert + "\": " + errno_text(errno)};
    std::error_code ec;
    out.ca_cert = std::filesystem::absolute(request.ca_cert, ec).lexically_normal().string();
  }

  out.agent = api::agent_environment(*settings, api::AgentEnvironmentOptions{});
  return out;
}

}  // namespace awf::cli
