// The filtering DNS front end: UDP and TCP listeners that forward queries
// for names the policy allows (any scope) to the upstream resolvers and
// refuse the rest, logging each refusal as an access-log record with method
// DNS; A/AAAA answers also feed the proxy's own resolver, so the agent and
// the proxy see the same addresses for a name.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "awf/intercept/dns_message.h"
#include "awf/intercept/dns_upstream.h"
#include "awf/proxy/access_log.h"
#include "awf/result.h"

namespace awf::proxy {

struct Worker;

// Serves one dns-udp socket owned by the worker until the socket is closed.
void start_dns_udp_service(boost::asio::ip::udp::socket& socket, Worker& worker);

// Takes ownership of an accepted dns-tcp connection (RFC 7766 framing,
// queries answered in order; deadlines: idle between queries, each query
// whole within --dns-tcp-timeout of its first byte, each answer taken
// within it too).
void start_dns_tcp_session(boost::asio::ip::tcp::socket client, const boost::asio::ip::tcp::endpoint& peer,
                           Worker& worker);

// Writes the pending summaries of the worker's folded DNS refusals and stops
// its sweep timer: at the drain, on the worker's thread, so nothing keeps
// the thread's io_context busy and no count is lost.
void flush_dns_refusals(Worker& worker);

// Forwards one allowed query upstream: a random id of ours in place of the
// client's, UDP to each server in turn (each exchange bounded by `timeout`;
// replies with another id skipped), TCP to the same server when the answer
// is truncated, the answer checked with parse_dns_response before it is
// believed and handed back under the client's id. The error names each
// server tried. `done` runs once on `executor`.
using DnsForwardDone = std::function<void(Result<intercept::ForwardedAnswer>)>;
void forward_dns_query_async(const boost::asio::any_io_executor& executor,
                             std::vector<boost::asio::ip::udp::endpoint> servers,
                             std::span<const std::uint8_t> client_query, const intercept::DnsQuestion& question,
                             std::chrono::milliseconds timeout, DnsForwardDone done);

// The upstream resolvers: --dns-servers entries ("IP", "IP:PORT",
// "[v6]:PORT"), or without any the nameservers of `resolv_conf`. The error
// names the entry.
Result<std::vector<boost::asio::ip::udp::endpoint>> dns_upstreams(const std::vector<std::string>& servers,
                                                                  const std::string& resolv_conf = "/etc/resolv.conf");

// "A", "AAAA", "HTTPS", ...; "TYPE<n>" (RFC 3597) for the rest.
std::string dns_type_name(std::uint16_t qtype);

// The access-log record of a refused query (documented in proxy/README.md):
// host = the name, method DNS, 403 TCP_DENIED:HIER_NONE, url dns://NAME/TYPE.
LogRecord dns_refusal_record(const std::string& client_ip, std::uint16_t client_port,
                             const intercept::DnsQuestion& question);

}  // namespace awf::proxy
