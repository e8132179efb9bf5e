// Provider names, ports and default hosts.
#include "awf/api/provider.h"


namespace awf::api {

std::string_view provider_name(Provider p) {
  switch (p) {
    case Provider::openai: return "openai";
    case Provider::anthropic: return "anthropic";
    case Provider::copilot: return "copilot";
    case Provider::gemini: return "gemini";
    case Provider::vertex: return "vertex";
  }
  return "unknown";
}

std::string_view provider_title(Provider p) {
  switch (p) {
    case Provider::openai: return "OpenAI";
    case Provider::anthropic: return "Anthropic";
    case Provider::copilot: return "GitHub Copilot";
    case Provider::gemini: return "Gemini";
    case Provider::vertex: return "Vertex AI";
  }
  return "unknown";
}

std::uint16_t provider_port(Provider p) { return static_cast<std::uint16_t>(10000 + index_of(p)); }

std::string_view default_host(Provider p) {
  switch (p) {
    case Provider::openai: return "api.openai.com";
    case Provider::anthropic: return "api.anthropic.com";
    case Provider::copilot: return "api.githubcopilot.com";
    case Provider::gemini: return "generativelanguage.googleapis.com";
    case Provider::vertex: return "aiplatform.googleapis.com";
  }
  return "";
}

std::optional<Provider> provider_named(std::string_view name) {
  for (Provider p : kProviders) {
    if (provider_name(p) == name) return p;
  }
  return std::nullopt;
}

}  // namespace awf::api
