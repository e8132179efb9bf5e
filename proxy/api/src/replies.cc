// Local replies: health, "not configured", bad request-target, body too
// large, model policy, upstream failure. Bodies carry no secret.
#include "replies.h"

#include <boost/json/object.hpp>

#include "awf/api/rewrite.h"
#include "json_body.h"

namespace awf::api {

namespace {

LocalReply json_reply(int status, const boost::json::object& body, std::string_view request_id) {
  return LocalReply{status,
                    {{"Content-Type", "application/json"}, {"X-Request-ID", std::string(request_id)}},
                    write_json(body),
                    {}};
}

boost::json::string_view js(std::string_view s) { return {s.data(), s.size()}; }

std::string_view credential_variables(Provider p) {
  switch (p) {
    case Provider::openai: return "OPENAI_API_KEY";
    case Provider::anthropic: return "ANTHROPIC_API_KEY";
    case Provider::copilot: return "COPILOT_GITHUB_TOKEN or COPILOT_PROVIDER_API_KEY";
    case Provider::gemini: return "GEMINI_API_KEY";
    case Provider::vertex: return "GOOGLE_API_KEY";
  }
  return "";
}

}  // namespace

LocalReply health_reply(const ProviderSettings& settings, Provider provider, std::string_view request_id) {
  // The management port reports every provider; the others only their own.
  if (provider == Provider::openai) {
    boost::json::object providers;
    for (Provider p : kProviders) providers[js(provider_name(p))] = settings.at(p).configured();
    return json_reply(200, {{"status", "healthy"}, {"service", "awf-api-proxy"}, {"providers", providers}},
                      request_id);
  }
  const std::string service = "awf-api-proxy-" + std::string(provider_name(provider));
  if (settings.at(provider).configured()) {
    return json_reply(200, {{"status", "healthy"}, {"service", service}}, request_id);
  }
  return json_reply(503,
                    {{"status", "not_configured"},
                     {"service", service},
                     {"error", std::string(credential_variables(provider)) + " not configured in the API proxy"}},
                    request_id);
}

LocalReply not_configured_reply(Provider provider, std::string_view request_id) {
  switch (provider) {
    case Provider::openai:
      return json_reply(404,
                        {{"error", "OpenAI proxy not configured (no OPENAI_API_KEY, or COPILOT_PROVIDER_API_KEY with "
                                   "COPILOT_PROVIDER_TYPE=azure)"}},
                        request_id);
    case Provider::gemini:
      return json_reply(503,
                        {{"error", "Gemini proxy not configured (no GEMINI_API_KEY). Set GEMINI_API_KEY in the AWF "
                                   "runner environment to enable credential isolation."}},
                        request_id);
    case Provider::vertex:
      return json_reply(503,
                        {{"error", "Vertex AI proxy not configured (no GOOGLE_API_KEY). Set GOOGLE_API_KEY in the "
                                   "AWF runner environment to enable credential isolation."}},
                        request_id);
    case Provider::anthropic:
    case Provider::copilot:
      break;
  }
  // A 403 that says it will not change: SDKs retry 5xx for minutes.
  const std::string port = std::to_string(provider_port(provider));
  boost::json::object error{
      {"message", "Credentials for " + std::string(provider_title(provider)) + " (port " + port +
                      ") are not configured. Set " + std::string(credential_variables(provider)) +
                      " to enable this provider."},
      {"type", "provider_not_configured"},
      {"provider", js(provider_name(provider))},
      {"port", provider_port(provider)},
      {"retryable", false}};
  return json_reply(403, {{"error", error}}, request_id);
}

LocalReply bad_target_reply(std::string_view request_id) {
  return json_reply(400, {{"error", "Bad Request"}, {"message", "URL must be a relative path"}}, request_id);
}

LocalReply body_too_large_reply(std::string_view request_id) {
  return json_reply(413, {{"error", "Payload Too Large"}, {"message", "Request body exceeds 10 MB limit"}},
                    request_id);
}

LocalReply upstream_failure_reply(std::string_view request_id) {
  // A fixed text: connection and TLS errors can name internal addresses.
  return json_reply(502, {{"error", "Proxy error"}, {"message", "The API proxy could not reach the provider"}},
                    request_id);
}

LocalReply upstream_failure_reply(std::string_view request_id, std::string_view reason) {
  return json_reply(502,
                    {{"error", "Proxy error"},
                     {"message", "The API proxy could not reach the provider: " + std::string(reason)}},
                    request_id);
}

LocalReply policy_reply(const PolicyVerdict& verdict, const std::optional<std::string>& model,
                        std::string_view request_id) {
  boost::json::object error{{"type", "model_policy_violation"}, {"message", verdict.message}};
  if (model) {
    error["model"] = *model;
  } else {
    error["model"] = nullptr;
  }
  error["reason"] = to_string(verdict.reason);
  LocalReply reply = json_reply(403, {{"error", error}}, request_id);
  if (model) reply.model = *model;
  return reply;
}

}  // namespace awf::api
