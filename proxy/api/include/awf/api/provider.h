// The LLM providers the API proxy fronts: one plain-HTTP listener each, a
// fixed port the agent's SDKs are pointed at, and the upstream host used
// when the configuration names none.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace awf::api {

enum class Provider : std::uint8_t { openai, anthropic, copilot, gemini, vertex };

inline constexpr std::array<Provider, 5> kProviders = {Provider::openai, Provider::anthropic, Provider::copilot,
                                                       Provider::gemini, Provider::vertex};

// Lower-case name: log field, metric label, the `<p>/` model prefix the
// provider's route strips, the suffix of its health service name.
std::string_view provider_name(Provider p);

// The name the agent-facing error messages use ("OpenAI", "GitHub Copilot").
std::string_view provider_title(Provider p);

// 10000 (OpenAI, also the management port) to 10004 (Vertex AI).
std::uint16_t provider_port(Provider p);

// api.openai.com, api.anthropic.com, api.githubcopilot.com,
// generativelanguage.googleapis.com, aiplatform.googleapis.com.
std::string_view default_host(Provider p);

// The provider whose lower-case name is `name`, if any.
std::optional<Provider> provider_named(std::string_view name);

// Index into per-provider arrays, in kProviders order.
constexpr std::size_t index_of(Provider p) { return static_cast<std::size_t>(p); }

}  // namespace awf::api
