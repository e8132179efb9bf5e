// The forward-proxy front end: one client connection speaking HTTP/1.x to
// the proxy (absolute-URI requests and CONNECT). It finds the destination,
// asks policy, resolves and connects through the SSRF guard, then streams
// the exchange or hands both sockets to the Relay.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace awf::proxy {

struct Worker;

// Takes ownership of an accepted client socket; the session keeps itself
// alive until the connection ends, and logs every transaction on it.
void start_http_session(boost::asio::ip::tcp::socket client, Worker& worker);

}  // namespace awf::proxy
