// Per request: the agent's request to the one the provider gets, or a reply
// made locally. The steps, in order: local /health; "not configured";
// origin-form check; path normalised, then the base path; Gemini's key query
// parameters removed; body size limit; body transforms (model prefix,
// stream usage, BYOK fields); headers stripped, trimmed and injected; model
// policy. Pure but for the random request id.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "awf/api/messages.h"
#include "awf/api/provider.h"
#include "awf/api/settings.h"

namespace awf::api {

// The body limit: larger bodies get 413 and nothing goes upstream. The
// network layer counts while reading and stops at the first byte over.
inline constexpr std::size_t kMaxBodyBytes = 10485760;

using Rewritten = std::variant<UpstreamRequest, LocalReply>;

// `federated_token`: with Anthropic workload identity federation, the
// access token awf-proxy holds now (nullptr while it has none: the request
// gets 503 retryable, /health 503 unavailable); unused otherwise.
Rewritten rewrite_request(const ProviderSettings& settings, Provider provider, ApiRequest request,
                          const Secret* federated_token = nullptr);

// [A-Za-z0-9_.-]{1,128}: a client X-Request-ID we reuse (it lands in logs
// and upstream headers, so nothing else is taken from the client).
bool is_valid_request_id(std::string_view id);

// The client's X-Request-ID when valid, else a new random UUIDv4.
std::string choose_request_id(const std::vector<Header>& headers);

// A random UUID (version 4), lower case.
std::string random_uuid_v4();

// The replies the network layer sends itself; each carries X-Request-ID.
LocalReply body_too_large_reply(std::string_view request_id);          // 413
LocalReply upstream_failure_reply(std::string_view request_id);        // 502, fixed text
// 502 naming what failed (`reason`: the step and its error, e.g. "connect
// timeout reaching api.openai.com" or a certificate verification error),
// built by the network layer from its own words and the configured host,
// secret hosts already replaced.
LocalReply upstream_failure_reply(std::string_view request_id, std::string_view reason);

}  // namespace awf::api
