// Forwarding an allowed query to an upstream resolver: the client's bytes
// re-identified with an id of ours, blocking exchanges with a deadline over
// UDP and TCP, and the answer handed back under the client's id. The asio
// front end can mirror forward_dns_query(); a worker thread can call it as is.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "awf/intercept/dns_message.h"
#include "awf/intercept/socket_address.h"
#include "awf/result.h"

namespace awf::intercept {

struct UpstreamQuery {
  std::vector<std::uint8_t> wire;  // the client's message (EDNS options and all) with our id
  DnsQuestion question;            // the client's question under our id: answers are checked against it
  std::uint16_t client_id = 0;
};

// An id from getrandom(2). The client picks its own ids, possibly
// predictably; the answers the proxy caches must not be guessable by whoever
// can send datagrams toward it.
std::uint16_t random_dns_id();

UpstreamQuery make_upstream_query(std::span<const std::uint8_t> client_query, const DnsQuestion& question,
                                  std::uint16_t upstream_id);

// The upstream's answer with the client's id put back.
std::vector<std::uint8_t> answer_for_client(std::span<const std::uint8_t> upstream_answer, const UpstreamQuery& query);

// One query, one answer, within `timeout`. UDP uses a connected socket (the
// kernel drops datagrams from other sources) and skips replies whose id is
// not the query's; TCP frames per RFC 1035 §4.2.2. Errors name the server.
Result<std::vector<std::uint8_t>> exchange_udp(const SocketAddress& server, std::span<const std::uint8_t> query,
                                               std::chrono::milliseconds timeout);
Result<std::vector<std::uint8_t>> exchange_tcp(const SocketAddress& server, std::span<const std::uint8_t> query,
                                               std::chrono::milliseconds timeout);

struct ForwardedAnswer {
  std::vector<std::uint8_t> wire;  // to send to the client (its id restored; fit it for UDP)
  DnsAnswer answer;                // addresses and TTLs for the proxy's cache
};

// The whole forward: our id, UDP first, TCP when the answer is truncated
// (RFC 7766 §5), the answer checked with parse_dns_response before it is
// believed. `timeout` bounds each exchange.
Result<ForwardedAnswer> forward_dns_query(const SocketAddress& server, std::span<const std::uint8_t> client_query,
                                          const DnsQuestion& question, std::chrono::milliseconds timeout);

}  // namespace awf::intercept
