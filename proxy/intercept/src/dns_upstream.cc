// Re-identifying allowed DNS queries with our own ids, and answers with the
// client's again.
#include "awf/intercept/dns_upstream.h"

#include <sys/random.h>
#include <sys/types.h>

namespace awf::intercept {

namespace {

void set_id(std::vector<std::uint8_t>& wire, std::uint16_t id) {
  // RFC 1035 §4.1.1: the id is the first two bytes of the header, big-endian.
  wire[0] = static_cast<std::uint8_t>(id >> 8);
  wire[1] = static_cast<std::uint8_t>(id & 0xff);
}

}  // namespace

std::uint16_t random_dns_id() {
  std::uint16_t id = 0;
  // getrandom(2) with a 2-byte buffer never returns short once the pool is
  // initialised; EINTR is retried.
  while (::getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
  }
  return id;
}

UpstreamQuery make_upstream_query(std::span<const std::uint8_t> client_query, const DnsQuestion& question,
                                  std::uint16_t upstream_id) {
  UpstreamQuery q;
  q.wire.assign(client_query.begin(), client_query.end());
  q.client_id = question.id;
  q.question = question;
  q.question.id = upstream_id;
  if (q.wire.size() >= kDnsHeaderBytes) set_id(q.wire, upstream_id);
  return q;
}

std::vector<std::uint8_t> answer_for_client(std::span<const std::uint8_t> upstream_answer, const UpstreamQuery& query) {
  std::vector<std::uint8_t> wire(upstream_answer.begin(), upstream_answer.end());
  if (wire.size() >= kDnsHeaderBytes) set_id(wire, query.client_id);
  return wire;
}

}  // namespace awf::intercept
