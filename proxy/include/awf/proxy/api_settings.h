// The API proxy's settings as awf-proxy runs them (docs/api-proxy.md): awf's
// variables from the process environment, with the --api-key, --api-target
// and --api-base-path flags put in place of the variables they override, so
// that one reader (awf_api's) checks everything; and the state every API
// session shares: those settings, the redactor built from them and the TLS
// client context for provider connections.
#pragma once

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "awf/api/redaction.h"
#include "awf/api/retry.h"
#include "awf/api/settings.h"
#include "awf/intercept/listener_kind.h"
#include "awf/proxy/config.h"
#include "awf/result.h"

namespace awf::proxy {

class FederatedTokenSource;  // api_token_source.h

// awf-proxy's own environment as NAME -> value.
api::Environment process_environment();

// The provider settings: `env` with the flags' values in place of their
// variables, read by api::read_provider_settings. A key file is read here,
// once: trimmed, at most 64 KiB, no line break or NUL left inside. Errors
// name the flag and the variable or file, never a key.
Result<api::ProviderSettings> load_api_settings(const Config& config, api::Environment env);

// Shared by every API session of the process, read-only while it runs but
// for the remembered header values.
struct ApiProxy {
  explicit ApiProxy(api::ProviderSettings s);
  api::ProviderSettings settings;
  api::Redactor redactor;  // every credential and secret host of `settings`
  // Header values each provider refused (api/retry.h): dropped from later
  // requests up front. The one part that changes while the proxy runs;
  // shared by every worker, behind its own lock.
  std::array<api::RememberedHeaderValues, api::kProviders.size()> remembered_values;
  // Verification against the system store (and --api-ca-cert) with the
  // configured host name; TLS 1.2 at least. Creating connections from it on
  // several threads at once is safe: it is not changed after start-up.
  boost::asio::ssl::context tls;
  // Anthropic workload identity federation's token source
  // (api_token_source.h), when the settings ask for it. Last: it is stopped
  // before the context and redactor it uses go.
  std::shared_ptr<FederatedTokenSource> federation;
};

// Builds the TLS context: the system's trusted certificates, plus the PEM
// file `extra_ca` when not empty (an error names it and OpenSSL's reason).
Result<std::unique_ptr<ApiProxy>> make_api_proxy(api::ProviderSettings settings, const std::string& extra_ca);

// The listener kind of a provider and back.
intercept::ListenerKind api_listener_kind(api::Provider provider);
api::Provider api_provider_of(intercept::ListenerKind kind);  // kind must be an api-* kind

}  // namespace awf::proxy
