// The HTTP front ends: one client connection speaking HTTP/1.x, either to
// the proxy (forward mode: absolute-URI requests and CONNECT) or, redirected
// by nftables, to the origin it thought it reached (transparent mode:
// origin-form requests, destination from the Host header). Both find the
// destination, ask policy, resolve and connect through the SSRF guard, then
// stream the exchange or hand both sockets to the Relay.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

namespace awf::proxy {

struct Worker;

enum class SessionMode : std::uint8_t {
  forward,      // the client knows it talks to a proxy
  transparent,  // http-intercept: the client believes it talks to the origin
};

// Takes ownership of an accepted client socket (`peer`: its address, as
// accept(2) reported it); the session keeps itself alive until the
// connection ends, and logs every transaction on it.
void start_http_session(boost::asio::ip::tcp::socket client, const boost::asio::ip::tcp::endpoint& peer,
                        Worker& worker, SessionMode mode = SessionMode::forward);

// The health probe's request target (origin-form, forward listener only):
// answered 200 by the proxy itself and never logged, so a container
// HEALTHCHECK does not fill the access log.
inline constexpr const char* kHealthCheckPath = "/.well-known/awf-proxy/health";

}  // namespace awf::proxy
