// The agent's side of the API proxy: base URLs and placeholders per
// configured provider, withheld variables, NO_PROXY entries.
#include "awf/api/agent_environment.h"

#include <algorithm>

#include "text.h"

namespace awf::api {

const std::vector<std::string>& withheld_variables() {
  static const std::vector<std::string> kNames = {
      // Provider keys and tokens, under every name an SDK reads them by.
      "OPENAI_API_KEY", "OPENAI_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_API_KEY",
      "COPILOT_GITHUB_TOKEN", "COPILOT_PROVIDER_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
      // Base URLs that would let an SDK go around the proxy (the real BYOK
      // URL may itself be secret).
      "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "OPENAI_ENDPOINT_OVERRIDE",
      "COPILOT_PROVIDER_BASE_URL",
      // GitHub tokens.
      "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_API_TOKEN", "GITHUB_PAT", "GH_ACCESS_TOKEN",
      // The Actions runtime: an OIDC token request URL and token mint
      // identity tokens for any audience.
      "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL"};
  return kNames;
}

std::string claude_key_helper_script() {
  return "#!/bin/sh\n# Prints the placeholder key: the API proxy holds the real one.\necho " +
         std::string(kAnthropicPlaceholder) + "\n";
}

namespace {

std::string base_url(std::string_view host, Provider p) {
  const bool v6 = host.find(':') != std::string_view::npos;
  return "http://" + (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" +
         std::to_string(provider_port(p));
}

// Copilot's CLI must use the Responses wire API for the GPT-5 and o3
// families, with or without a provider prefix ("openai/gpt-5").
bool needs_responses_wire_api(std::string_view model) {
  const std::string lower = text::to_lower(model);
  for (std::string_view family : {std::string_view("gpt-5"), std::string_view("o3")}) {
    for (auto at = lower.find(family); at != std::string::npos; at = lower.find(family, at + 1)) {
      const bool start_ok = at == 0 || lower[at - 1] == '/' || lower[at - 1] == ':';
      const std::size_t end = at + family.size();
      const bool end_ok = end == lower.size() || lower[end] == '-' || lower[end] == '_' || lower[end] == '.';
      if (start_ok && end_ok) return true;
    }
  }
  return false;
}

}  // namespace

AgentApiEnvironment agent_environment(const ProviderSettings& settings, const AgentEnvironmentOptions& options) {
  AgentApiEnvironment out;
  out.withheld = withheld_variables();
  auto& set = out.set;
  const std::string& host = options.listener_host;

  if (settings.at(Provider::openai).configured()) {
    set["OPENAI_BASE_URL"] = base_url(host, Provider::openai);
    // Codex ignores the base URL unless it also finds a key.
    set["OPENAI_API_KEY"] = std::string(kOpenAiPlaceholder);
    set["CODEX_API_KEY"] = std::string(kOpenAiPlaceholder);
  }
  if (settings.at(Provider::anthropic).configured()) {
    set["ANTHROPIC_BASE_URL"] = base_url(host, Provider::anthropic);
    // ANTHROPIC_API_KEY stays unset, even as a placeholder: Claude Code
    // would then authenticate with it directly.
    set["ANTHROPIC_AUTH_TOKEN"] = std::string(kAnthropicPlaceholder);
    if (!options.claude_key_helper.empty()) set["CLAUDE_CODE_API_KEY_HELPER"] = options.claude_key_helper;
  }
  if (settings.copilot_agent_routed) {
    const ProviderConfig& c = settings.at(Provider::copilot);
    const std::string url = base_url(host, Provider::copilot);
    set["COPILOT_API_URL"] = url;
    set["COPILOT_PROVIDER_BASE_URL"] = url;
    set["COPILOT_TOKEN"] = std::string(kCopilotPlaceholder);
    if (c.github_token) set["COPILOT_GITHUB_TOKEN"] = std::string(kCopilotPlaceholder);
    if (c.key) set["COPILOT_PROVIDER_API_KEY"] = std::string(kCopilotPlaceholder);
    // Offline + BYOK: the CLI skips GitHub's OAuth handshake and talks to
    // the listener only.
    set["COPILOT_OFFLINE"] = "true";
    if (needs_responses_wire_api(settings.copilot_model)) set["COPILOT_PROVIDER_WIRE_API"] = "responses";
  }
  if (settings.at(Provider::gemini).configured()) {
    const std::string url = base_url(host, Provider::gemini);
    set["GOOGLE_GEMINI_BASE_URL"] = url;
    set["GEMINI_API_BASE_URL"] = url;
    set["GEMINI_API_KEY"] = std::string(kGeminiPlaceholder);
  }
  if (settings.at(Provider::vertex).configured()) {
    set["GOOGLE_VERTEX_BASE_URL"] = base_url(host, Provider::vertex);
    set["GOOGLE_API_KEY"] = std::string(kGooglePlaceholder);
  }
  set["AWF_API_PROXY_IP"] = host;

  // The listeners are reached directly, never through the forward proxy.
  for (std::string entry : {std::string("localhost"), std::string("127.0.0.1"), std::string("::1"), host}) {
    if (std::find(out.no_proxy.begin(), out.no_proxy.end(), entry) == out.no_proxy.end()) {
      out.no_proxy.push_back(std::move(entry));
    }
  }
  return out;
}

}  // namespace awf::api
