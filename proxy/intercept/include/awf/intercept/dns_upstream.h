// The pure pieces of forwarding an allowed query to an upstream resolver:
// the client's bytes re-identified with an id of ours, and the answer handed
// back under the client's id. The exchange itself (UDP, TCP on truncation,
// deadlines) is the proxy's asio code, forward_dns_query_async in
// awf/proxy/dns_frontend.h.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "awf/intercept/dns_message.h"

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

struct ForwardedAnswer {
  std::vector<std::uint8_t> wire;  // to send to the client (its id restored; fit it for UDP)
  DnsAnswer answer;                // addresses and TTLs for the proxy's cache
};

}  // namespace awf::intercept
