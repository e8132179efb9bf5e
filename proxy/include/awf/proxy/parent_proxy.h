// Chaining to a parent HTTP proxy (--upstream-proxy): the CONNECT exchange
// that turns a connection to the parent into a tunnel to `host:port`. Plain
// HTTP needs no exchange of its own: the request goes to the parent in
// absolute form (build_upstream_request).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "awf/proxy/context.h"

namespace awf::proxy {

// Whether a request for `host` (canonical) goes through the parent: one is
// configured and no --upstream-bypass entry covers the host.
bool via_parent(const Config& config, std::string_view host);

struct ParentConnectResult {
  bool ok = false;
  std::string leftover;  // ok: bytes the parent sent after its answer (the origin's, for the client)
  std::string error;     // !ok: what went wrong, naming the parent and its answer
};

// Writes `CONNECT host:port` on `socket` (already connected to the parent)
// and reads the parent's answer head: 2xx is a tunnel. `done` runs once, on
// the socket's executor; `socket` must live until then (the caller's session
// holds it, and `keep_alive` keeps the session). The caller's own deadline
// bounds the exchange: it closes the socket, which ends the wait.
void connect_through_parent(boost::asio::ip::tcp::socket& socket, const std::string& host, std::uint16_t port,
                            std::shared_ptr<void> keep_alive, std::function<void(ParentConnectResult)> done);

}  // namespace awf::proxy
