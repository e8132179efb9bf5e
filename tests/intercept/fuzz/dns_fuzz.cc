// libFuzzer target: a client's DNS packet through query parsing, the decision,
// the answers we build (which must read back), and the same bytes as an
// upstream response, ECH configs stripped from it; plus TCP framing of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "awf/intercept/dns_ech.h"
#include "awf/intercept/dns_filter.h"
#include "awf/intercept/dns_framing.h"
#include "awf/intercept/dns_message.h"

using namespace awf::intercept;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const NamePredicate allows = [](std::string_view name) { return name.ends_with("allowed.test"); };
  const DnsQueryParse q = parse_dns_query(input);
  if (q.ok) {
    const DnsDecision d = decide_dns_query(q.question, DnsPolicy{}, allows);
    for (DnsRcode rcode : {d.forward ? DnsRcode::servfail : d.rcode, DnsRcode::nxdomain}) {
      const auto reply = build_dns_response(q.question, rcode);
      if (reply.empty()) std::abort();
      // Our own answer must read back as an answer to the query.
      if (!parse_dns_response(reply, q.question).ok()) std::abort();
    }
    (void)fit_udp_reply(build_dns_truncated_response(q.question), q.question);
    // The input as an upstream's answer to itself.
    (void)parse_dns_response(input, q.question);
  } else {
    (void)build_dns_error_reply(input, q.error);
    DnsQuestion fixed;
    fixed.id = size >= 2 ? static_cast<std::uint16_t>((data[0] << 8) | data[1]) : 0;
    fixed.name = "allowed.test";
    fixed.is_host_name = true;
    fixed.wire_name = {7, 'a', 'l', 'l', 'o', 'w', 'e', 'd', 4, 't', 'e', 's', 't', 0};
    fixed.qtype = 1;
    fixed.qclass = 1;
    (void)parse_dns_response(input, fixed);
  }
  // The input as an upstream answer losing its ECH configs: a rewrite is
  // shorter and final (nothing left to strip in it).
  const EchStrip stripped = strip_ech_configs(input);
  if (stripped.status == EchStrip::Status::rewritten &&
      (stripped.wire.size() >= size || strip_ech_configs(stripped.wire).status != EchStrip::Status::unchanged)) {
    std::abort();
  }
  const DnsTcpFrame frame = next_tcp_dns_message(input);
  if (frame.status == DnsTcpFrame::Status::done && frame.consumed > size) std::abort();
  return 0;
}
