// Where an intercepted connection was headed before nftables redirected it
// (for the access log only: the proxy never connects there, it resolves the
// name from the Host header or SNI instead).
#pragma once

#include "awf/intercept/socket_address.h"
#include "awf/result.h"

namespace awf::intercept {

// SO_ORIGINAL_DST for IPv4 sockets, IP6T_SO_ORIGINAL_DST for IPv6 ones; both
// read the connection's conntrack NAT record. Fails with a message naming
// errno, e.g. for a connection that was not redirected (ENOENT).
Result<SocketAddress> original_destination(int fd);

// getsockname(2): the address the socket is bound to.
Result<SocketAddress> local_address(int fd);

}  // namespace awf::intercept
