// Anthropic workload identity federation (WIF) through GitHub Actions OIDC:
// instead of a static ANTHROPIC_API_KEY, the API proxy asks the Actions
// runtime for an OIDC identity token (a JWT), exchanges it at Anthropic's
// OAuth token endpoint for a short-lived access token, and sends that as
// `Authorization: Bearer` on the Anthropic listener's requests. Switched on
// by AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic; OIDC for
// the other providers (Azure, AWS, GCP) is refused at start-up. This file
// holds the settings and the wire shapes; the network layer (awf-proxy's
// token source) does the requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/api/secret.h"
#include "awf/result.h"

namespace awf::api {

using Environment = std::map<std::string, std::string>;

// The anthropic-beta value every request carrying a federated token needs;
// merged once into the client's own values.
inline constexpr std::string_view kOAuthBeta = "oauth-2025-04-20";
// The betas of the token exchange itself: OAuth, and the routing of a
// jwt-bearer grant to the federation service.
inline constexpr std::string_view kExchangeBetas = "oauth-2025-04-20,oidc-federation-2026-04-01";
inline constexpr std::string_view kDefaultFederationAudience = "https://api.anthropic.com";
inline constexpr std::string_view kDefaultFederationTokenUrl = "https://api.anthropic.com/v1/oauth/token";
inline constexpr std::string_view kJwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

// An http:// or https:// URL the proxy itself requests.
struct HttpUrl {
  bool tls = true;
  std::string host;    // lower case; an IPv6 literal without its brackets
  std::uint16_t port = 443;
  std::string target;  // origin form: path (at least "/") and query; no fragment
  // The Host header: the host, bracketed when IPv6, with the port when it
  // is not the scheme's default.
  std::string authority() const;
};

// Parses `value` (trimmed): scheme http or https (any case), a host name or
// IP literal, an optional port 1-65535, path and query kept, fragment
// dropped. Errors name `variable`; the value is shown only when
// `show_value` (the Actions token request URL is not shown).
Result<HttpUrl> parse_http_url(std::string_view variable, std::string_view value, bool show_value);

struct AnthropicFederation {
  HttpUrl request_url;           // ACTIONS_ID_TOKEN_REQUEST_URL (never logged)
  Secret request_token;          // ACTIONS_ID_TOKEN_REQUEST_TOKEN
  std::string audience;          // AWF_AUTH_OIDC_AUDIENCE, else kDefaultFederationAudience
  std::string federation_rule_id;  // AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID
  std::string organization_id;     // AWF_AUTH_ANTHROPIC_ORGANIZATION_ID
  std::string service_account_id;  // AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID
  std::optional<std::string> workspace_id;  // AWF_AUTH_ANTHROPIC_WORKSPACE_ID, when not blank
  HttpUrl token_url;             // AWF_AUTH_ANTHROPIC_TOKEN_URL, else kDefaultFederationTokenUrl
};

// AWF_AUTH_TYPE and what it needs. Unset, empty or `api-key`: nullopt (static
// keys). `github-oidc` with AWF_AUTH_PROVIDER=anthropic: the federation
// settings, every required variable present and single-line. Errors name
// the variable (never a token's value): another AWF_AUTH_TYPE, another or
// no AWF_AUTH_PROVIDER (azure, aws and gcp are not implemented), a missing
// or multi-line variable, an unusable URL.
Result<std::optional<AnthropicFederation>> read_anthropic_federation(const Environment& env,
                                                                     std::vector<std::string>& warnings);

// Whether AWF_AUTH_TYPE asks for GitHub Actions OIDC (github-oidc, any case,
// whatever the provider): only then does awf-proxy get the Actions runtime's
// token request URL and token.
bool github_oidc_requested(const Environment& env);

// The variables that configure OIDC for awf (every provider's): they are
// the proxy's business, never copied into the agent's environment.
const std::vector<std::string>& auth_variables();

// The GitHub Actions token request: the request URL's target with
// `audience=<audience>` in its query (an audience already there replaced),
// percent-encoded.
std::string token_request_target(const AnthropicFederation& federation);

// The exchange's JSON body: grant_type, assertion (the JWT),
// federation_rule_id, organization_id, service_account_id, and workspace_id
// when set.
std::string exchange_body(const AnthropicFederation& federation, std::string_view jwt);

// The JWT from the Actions runtime's answer, `{"value":"<jwt>", ...}`.
// Errors say what is wrong without quoting the body.
Result<Secret> parse_token_request_answer(std::string_view body);

// The exchange's answer: `{"access_token":"...","expires_in":N, ...}`.
// expires_in absent, zero, negative or not a number: one hour; more than a
// day: a day. Errors say what is wrong without quoting the body.
struct ExchangedToken {
  Secret access_token;
  std::chrono::seconds lifetime{3600};
};
Result<ExchangedToken> parse_exchange_answer(std::string_view body);

// When to fetch the next token: min(75 % of the lifetime, lifetime - 300 s),
// but never before a quarter of the lifetime, nor within one second, so a
// short-lived token is not refreshed in a loop.
std::chrono::milliseconds refresh_delay(std::chrono::seconds lifetime);

}  // namespace awf::api
