// The transparent HTTPS front end: a connection nftables redirected from TCP
// 443. It peeks at the ClientHello without terminating TLS, decides on the
// SNI with CONNECT semantics, resolves that name itself (the address the
// client dialled is never trusted), replays the peeked bytes to the checked
// address and hands both sockets to the Relay.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace awf::proxy {

struct Worker;

// Takes ownership of an accepted client socket; the session keeps itself
// alive until the tunnel ends and writes one access-log record.
void start_tls_intercept_session(boost::asio::ip::tcp::socket client, const boost::asio::ip::tcp::endpoint& peer,
                                 Worker& worker);

}  // namespace awf::proxy
