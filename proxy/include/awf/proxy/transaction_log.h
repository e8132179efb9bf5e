// The access-log fields of one HTTP transaction, derived from what the
// session saw: the request head, the destination it was routed to, the
// response head, and how it ended. Squid's conventions for each field are
// kept here, in one place, apart from the session's I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "awf/proxy/access_log.h"
#include "awf/proxy/http_head.h"

namespace awf::proxy {

// Method, HTTP version (%rv) and User-Agent of a parsed request head.
void record_request(LogRecord& rec, const RequestHead& req);

// The URL (%ru) and Host (%{Host}>h) fields of a request routed to `host`
// (canonical) on `target.port`:
// - URL: CONNECT's "host:port", else "http://host[:port]/path" with the
//   query cut after '?' (Squid's strip_query_terms, on by default).
// - Host: not what the client wrote in Host (RFC 9112 3.2.2: the target
//   wins) but the host routed to and decided on, with ":port" when
//   `host_with_port`; left "-" when the request carried no Host header.
void record_destination(LogRecord& rec, const RequestHead& req, std::string_view host, const Target& target,
                        bool is_connect, bool host_with_port);

// Whether the logged Host carries the port. Forward mode: for CONNECT and
// any port but http's 80. Intercepted requests: as the client wrote Host
// (`host_had_port`), as Squid logs %{Host}>h of an intercepted request.
bool logged_host_has_port(bool transparent, bool host_had_port, bool is_connect, std::uint16_t port);

// Status and media type (without parameters) of the response passed on.
void record_response(LogRecord& rec, const ResponseHead& resp);

// A connection that ended before a complete request: Squid's single record
// for it.
void record_end_before_request(LogRecord& rec);

// The end time and duration of a transaction that began at `started`.
void record_end(LogRecord& rec, std::chrono::steady_clock::time_point started);

}  // namespace awf::proxy
