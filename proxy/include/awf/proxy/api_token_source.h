// The API proxy's source of Anthropic workload identity federation tokens
// (docs/api-proxy.md, "Anthropic workload identity federation"): on start it
// asks the GitHub Actions runtime for an OIDC identity token (GET
// ACTIONS_ID_TOKEN_REQUEST_URL&audience=..., `Authorization: Bearer
// <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`), exchanges it at the token URL (POST,
// JSON jwt-bearer grant) for an access token, holds that, and fetches the
// next one at min(75 % of its life, life - 300 s); a failed step is retried
// after 1 s, doubling up to 60 s, while a token still valid keeps serving.
// Each step (resolve, connect, TLS, request, answer) has 10 s.
//
// One source per process, shared by every worker: one exchange per token,
// whatever --threads says. It runs on a thread and io_context of its own;
// workers read the current token through current() (a mutex held for a
// pointer copy). Names resolve through the proxy's resolver (--hosts-file,
// --dns-servers); https:// is verified as provider connections are (system
// store plus --api-ca-cert, the URL's host name checked); http:// is used
// as given. The identity token and every access token are added to the
// API proxy's redactor before they are used.
#pragma once

#include <chrono>
#include <memory>

#include "awf/api/federation.h"
#include "awf/api/provider.h"
#include "awf/api/secret.h"
#include "awf/result.h"

namespace awf::proxy {

struct ApiProxy;
class Resolver;

class FederatedTokenSource {
 public:
  struct Timing {
    std::chrono::milliseconds step_timeout{10'000};
    std::chrono::milliseconds first_retry{1'000};
    std::chrono::milliseconds max_retry{60'000};
  };

  // Starts fetching at once, on its own thread. `api` and `resolver` must
  // outlive it.
  FederatedTokenSource(api::AnthropicFederation settings, ApiProxy& api, Resolver& resolver, Timing timing);
  ~FederatedTokenSource();  // stops the thread; a request in flight is dropped
  FederatedTokenSource(const FederatedTokenSource&) = delete;
  FederatedTokenSource& operator=(const FederatedTokenSource&) = delete;

  // The access token now; nullptr before the first one arrives and once
  // the last one expired without a successor.
  std::shared_ptr<const api::Secret> current() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// With federation in the settings, starts api.federation; otherwise
// nothing.
Status start_federation(ApiProxy& api, Resolver& resolver);

// The token a request on `provider`'s listener carries: the source's current
// one on a federated provider, else nullptr.
std::shared_ptr<const api::Secret> federated_token(const ApiProxy& api, api::Provider provider);

}  // namespace awf::proxy
