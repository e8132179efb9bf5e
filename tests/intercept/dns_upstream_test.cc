// Tests of the pure pieces of forwarding upstream: our own ids on the way
// out, the client's id restored on the way back, ids that vary. The exchange
// itself (UDP, TCP on truncation, deadlines) is tested with the proxy's
// forward_dns_query_async in tests/proxy/dns_frontend_test.cc.
#include "awf/intercept/dns_upstream.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace awf::intercept {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes to_wire(ldns_pkt* pkt) {
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) return {};
  Bytes out(wire, wire + size);
  std::free(wire);
  return out;
}

Bytes query_for(const char* name, ldns_rr_type type, std::uint16_t id) {
  ldns_pkt* pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(pkt, id);
  Bytes out = to_wire(pkt);
  ldns_pkt_free(pkt);
  return out;
}

TEST(DnsForward, IdsAreOursUpstreamAndTheClientsOnTheWayBack) {
  const Bytes query = query_for("allowed.test.", LDNS_RR_TYPE_A, 0x0101);
  const DnsQuestion q = parse_dns_query(query).question;
  const UpstreamQuery up = make_upstream_query(query, q, 0xbeef);
  EXPECT_EQ(LDNS_ID_WIRE(up.wire.data()), 0xbeef);
  EXPECT_EQ(up.question.id, 0xbeef);
  EXPECT_EQ(up.client_id, 0x0101);
  EXPECT_TRUE(std::equal(up.wire.begin() + 2, up.wire.end(), query.begin() + 2));
  const Bytes back = answer_for_client(up.wire, up);
  EXPECT_EQ(LDNS_ID_WIRE(back.data()), 0x0101);
}

TEST(DnsForward, RandomIdsVary) {
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 64; ++i) seen.insert(random_dns_id());
  EXPECT_GT(seen.size(), 32u);
}

}  // namespace
}  // namespace awf::intercept
