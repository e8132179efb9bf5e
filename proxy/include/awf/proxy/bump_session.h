// SSL bump sessions: TLS from a client the proxy terminates with a
// certificate minted for the name it asked for, each decrypted HTTP/1.1
// request decided on its https URL (--allow-urls, --enable-dlp) and sent to
// the origin over TLS verified against the system store, one access-log
// record per request. The front ends (CONNECT in http_session.cc, redirected
// TLS in tls_intercept_session.cc) hand over the client once the policy
// allowed the name, with the bytes they peeked and the upstream connection
// they opened; the session owns both from then on.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "awf/proxy/access_log.h"
#include "awf/proxy/context.h"

namespace awf::proxy {

struct BumpStart {
  boost::asio::ip::tcp::socket client;
  std::string client_bytes;  // read from the client already: its ClientHello, maybe more
  // Connected to the origin, or a tunnel to it through the parent proxy;
  // none: the session dials when the first request is allowed.
  std::optional<boost::asio::ip::tcp::socket> upstream;
  std::string upstream_bytes;  // what the parent sent past its answer to CONNECT
  std::string upstream_dest;   // "ip:port" the upstream connection went to, as logged
  bool via_parent = false;     // out through --upstream-proxy
  // The name the certificate is minted for and the origin's certificate must
  // carry: the ClientHello's server name, else the CONNECT host. Canonical.
  std::string name;
  std::uint16_t port = 443;
  std::string client_ip;
  std::uint16_t client_port = 0;
  std::string original_dest;  // intercepted connections: where the client was headed
  std::chrono::steady_clock::time_point lifetime_end;
  Listener listener = Listener::forward;  // the front end the tunnel came through, for the metrics
};

// Whether TLS for `host` (canonical) is bumped: --ssl-bump-cert is set and
// no --ssl-bump-exclude entry covers the host.
bool is_bumped(const ProxyContext& context, std::string_view host);

// Takes the client (and the upstream connection) over; runs on `worker`.
void start_bump_session(BumpStart start, Worker& worker);

}  // namespace awf::proxy
