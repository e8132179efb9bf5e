// Anthropic workload identity federation inside awf_api (internal): the
// Anthropic provider switched over to federated tokens, and the replies of
// its listener while the proxy holds no access token (JSON with
// Content-Type and X-Request-ID, nothing sent upstream).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/api/messages.h"
#include "awf/api/provider.h"
#include "awf/api/settings.h"

namespace awf::api {

// The Anthropic provider with federation on: the credential is the
// federated token as `Authorization: Bearer` (a custom auth header is still
// stripped from the agent's requests, but not used); a static
// ANTHROPIC_API_KEY is dropped with a warning: it is never sent beside or
// instead of the token.
void use_federated_token(ProviderConfig& anthropic, std::vector<std::string>& warnings);

// 503 {"error":{"message","type":"provider_not_configured","provider","port",
// "retryable":true}}: the shape of "not configured", but a status and flag
// that tell SDKs to try again: the token is on its way.
LocalReply federation_pending_reply(Provider provider, std::string_view request_id);

// GET /health: 503 {"status":"unavailable","service","error"}.
LocalReply federation_pending_health_reply(Provider provider, std::string_view request_id);

}  // namespace awf::api
