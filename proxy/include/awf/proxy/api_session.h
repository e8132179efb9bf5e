// The API proxy's front end (docs/api-proxy.md): one connection from the
// agent's SDK on a provider's plain-HTTP listener. Each request is read
// whole (head by our strict parser, body up to the 10 MiB limit), rewritten
// by awf_api (credential injected, path and model checked) and either
// answered locally or sent to the configured provider host over verified
// TLS, with the response relayed to the agent as it arrives (SSE is never
// held back). A WebSocket upgrade is relayed both ways after the provider's
// 101. These connections are the proxy's own: they go only to configured
// hosts, never through the agent's allowlist.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "awf/api/provider.h"

namespace awf::proxy {

struct Worker;

void start_api_session(boost::asio::ip::tcp::socket client, const boost::asio::ip::tcp::endpoint& peer, Worker& worker,
                       api::Provider provider);

}  // namespace awf::proxy
