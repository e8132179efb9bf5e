// The SOCKS5 front end (--listen-socks): a client names host:port in a
// SOCKS request instead of an HTTP CONNECT, and gets the same decision, the
// same way out and the same log record as that CONNECT would.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace awf::proxy {

struct Worker;

// Takes ownership of an accepted client socket; the session keeps itself
// alive until the tunnel ends and writes one access-log record.
void start_socks_session(boost::asio::ip::tcp::socket client, const boost::asio::ip::tcp::endpoint& peer,
                         Worker& worker);

}  // namespace awf::proxy
