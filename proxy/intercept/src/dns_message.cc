// DNS messages of the filtering front end, read and written with ldns: client
// queries, our own short answers, and upstream answers for the address cache.
#include "awf/intercept/dns_message.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace awf::intercept {

const char* to_string(DnsRcode rcode) {
  switch (rcode) {
    case DnsRcode::noerror: return "NOERROR";
    case DnsRcode::formerr: return "FORMERR";
    case DnsRcode::servfail: return "SERVFAIL";
    case DnsRcode::nxdomain: return "NXDOMAIN";
    case DnsRcode::notimp: return "NOTIMP";
    case DnsRcode::refused: return "REFUSED";
  }
  return "RCODE";
}

const char* to_string(DnsQueryError error) {
  switch (error) {
    case DnsQueryError::too_short: return "too_short";
    case DnsQueryError::too_large: return "too_large";
    case DnsQueryError::not_a_query: return "not_a_query";
    case DnsQueryError::bad_opcode: return "bad_opcode";
    case DnsQueryError::question_count: return "question_count";
    case DnsQueryError::malformed: return "malformed";
  }
  return "unknown";
}

namespace {

constexpr std::size_t kMaxCnameHops = 16;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct MallocFree {
  void operator()(void* p) const { std::free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

PktPtr read_packet(std::span<const std::uint8_t> bytes) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, bytes.data(), bytes.size()) != LDNS_STATUS_OK) return nullptr;
  return PktPtr(pkt);
}

std::vector<std::uint8_t> write_packet(const ldns_pkt* pkt) {
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK || wire == nullptr) return {};
  std::unique_ptr<std::uint8_t, MallocFree> owned(wire);
  return std::vector<std::uint8_t>(wire, wire + size);
}

// Presentation form of a name for logs and the policy: lower case, no
// trailing dot. ldns escapes every byte that is not plain text, so a name is
// a host name exactly when nothing but [a-z0-9-_.] is left.
std::string presentation_name(const ldns_rdf* dname, bool& is_host_name) {
  std::unique_ptr<char, MallocFree> text(ldns_rdf2str(dname));
  std::string name = text ? text.get() : "";
  if (!name.empty() && name.back() == '.') name.pop_back();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  is_host_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
  return name;
}

// The header of every answer we build ourselves.
PktPtr answer_skeleton(std::uint16_t id, bool rd, bool cd, ldns_pkt_opcode opcode, DnsRcode rcode) {
  PktPtr pkt(ldns_pkt_new());
  if (!pkt) return nullptr;
  ldns_pkt_set_id(pkt.get(), id);
  ldns_pkt_set_qr(pkt.get(), true);
  ldns_pkt_set_opcode(pkt.get(), opcode);
  ldns_pkt_set_rd(pkt.get(), rd);
  ldns_pkt_set_cd(pkt.get(), cd);
  ldns_pkt_set_ra(pkt.get(), true);
  ldns_pkt_set_rcode(pkt.get(), static_cast<std::uint8_t>(rcode));
  return pkt;
}

bool push_question(ldns_pkt* pkt, const DnsQuestion& q) {
  ldns_rr* rr = ldns_rr_new();
  if (rr == nullptr) return false;
  ldns_rdf* owner = ldns_dname_new_frm_data(static_cast<std::uint16_t>(q.wire_name.size()), q.wire_name.data());
  if (owner == nullptr) {
    ldns_rr_free(rr);
    return false;
  }
  ldns_rr_set_owner(rr, owner);
  ldns_rr_set_question(rr, true);
  ldns_rr_set_type(rr, static_cast<ldns_rr_type>(q.qtype));
  ldns_rr_set_class(rr, static_cast<ldns_rr_class>(q.qclass));
  if (!ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, rr)) {
    ldns_rr_free(rr);
    return false;
  }
  return true;
}

std::vector<std::uint8_t> build_answer(const DnsQuestion& q, DnsRcode rcode, bool truncated) {
  PktPtr pkt = answer_skeleton(q.id, q.rd, q.cd, LDNS_PACKET_QUERY, rcode);
  if (!pkt || !push_question(pkt.get(), q)) return {};
  ldns_pkt_set_tc(pkt.get(), truncated);
  // RFC 6891 §7: a query with an OPT record gets one back.
  if (q.has_edns) ldns_pkt_set_edns_udp_size(pkt.get(), kEdnsPayloadWeAdvertise);
  return write_packet(pkt.get());
}

}  // namespace

DnsQueryParse parse_dns_query(std::span<const std::uint8_t> packet) {
  DnsQueryParse result;
  auto fail = [&result](DnsQueryError error) {
    result.ok = false;
    result.error = error;
    return result;
  };
  if (packet.size() < kDnsHeaderBytes) return fail(DnsQueryError::too_short);
  if (packet.size() > kMaxDnsQueryBytes) return fail(DnsQueryError::too_large);
  const std::uint8_t* wire = packet.data();
  // Checked on the raw header first: these get no answer or a header-only one
  // even when the rest is garbage.
  if (LDNS_QR_WIRE(wire)) return fail(DnsQueryError::not_a_query);
  if (LDNS_OPCODE_WIRE(wire) != LDNS_PACKET_QUERY) return fail(DnsQueryError::bad_opcode);

  PktPtr pkt = read_packet(packet);
  if (!pkt) return fail(DnsQueryError::malformed);
  // RFC 9619: a query carries exactly one question.
  if (ldns_pkt_qdcount(pkt.get()) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(pkt.get())) != 1) {
    return fail(DnsQueryError::question_count);
  }
  if (ldns_pkt_ancount(pkt.get()) != 0 || ldns_pkt_nscount(pkt.get()) != 0) return fail(DnsQueryError::malformed);

  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0);
  const ldns_rdf* owner = ldns_rr_owner(question);
  if (owner == nullptr || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME) return fail(DnsQueryError::malformed);

  DnsQuestion& q = result.question;
  q.id = ldns_pkt_id(pkt.get());
  q.rd = ldns_pkt_rd(pkt.get());
  q.cd = ldns_pkt_cd(pkt.get());
  q.qtype = static_cast<std::uint16_t>(ldns_rr_get_type(question));
  q.qclass = static_cast<std::uint16_t>(ldns_rr_get_class(question));
  const std::uint8_t* name_data = ldns_rdf_data(owner);
  q.wire_name.assign(name_data, name_data + ldns_rdf_size(owner));
  q.name = presentation_name(owner, q.is_host_name);
  q.has_edns = ldns_pkt_edns(pkt.get());
  if (q.has_edns) q.udp_payload = std::max<std::size_t>(kMinUdpPayload, ldns_pkt_edns_udp_size(pkt.get()));
  result.ok = true;
  return result;
}

std::optional<std::vector<std::uint8_t>> build_dns_error_reply(std::span<const std::uint8_t> packet,
                                                              DnsQueryError error) {
  if (error == DnsQueryError::too_short || error == DnsQueryError::not_a_query) return std::nullopt;
  if (packet.size() < kDnsHeaderBytes) return std::nullopt;
  const std::uint8_t* wire = packet.data();
  // RFC 1035 §4.1.1: NOTIMP for a kind of query we do not support, FORMERR
  // for one we could not read. The question is not echoed: it is what failed.
  const DnsRcode rcode = error == DnsQueryError::bad_opcode ? DnsRcode::notimp : DnsRcode::formerr;
  PktPtr pkt = answer_skeleton(LDNS_ID_WIRE(wire), LDNS_RD_WIRE(wire) != 0, LDNS_CD_WIRE(wire) != 0,
                               LDNS_PACKET_QUERY, rcode);
  if (!pkt) return std::nullopt;
  std::vector<std::uint8_t> reply = write_packet(pkt.get());
  if (reply.size() < kDnsHeaderBytes) return std::nullopt;
  // The opcode is echoed as received. ldns_pkt_opcode only has the assigned
  // values, and storing an unassigned one (found by fuzzing: 13) in it is
  // undefined behaviour, so the 4 bits are copied on the wire instead.
  const std::uint8_t opcode = static_cast<std::uint8_t>(LDNS_OPCODE_WIRE(wire));
  reply[2] = static_cast<std::uint8_t>((reply[2] & ~LDNS_OPCODE_MASK) | (opcode << LDNS_OPCODE_SHIFT));
  return reply;
}

std::vector<std::uint8_t> build_dns_response(const DnsQuestion& question, DnsRcode rcode) {
  return build_answer(question, rcode, false);
}

std::vector<std::uint8_t> build_dns_truncated_response(const DnsQuestion& question) {
  return build_answer(question, DnsRcode::noerror, true);
}

std::vector<std::uint8_t> fit_udp_reply(std::vector<std::uint8_t> reply, const DnsQuestion& question) {
  if (reply.size() <= question.udp_payload) return reply;
  return build_dns_truncated_response(question);
}

std::string DnsAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, bytes.data(), text, sizeof text) == nullptr) return "?";
  return text;
}

Result<DnsAnswer> parse_dns_response(std::span<const std::uint8_t> response, const DnsQuestion& query) {
  if (response.size() < kDnsHeaderBytes) {
    return Error{"DNS response of " + std::to_string(response.size()) + " bytes is shorter than a header"};
  }
  if (response.size() > kMaxDnsMessageBytes) return Error{"DNS response over 65535 bytes"};
  PktPtr pkt = read_packet(response);
  if (!pkt) return Error{"malformed DNS response (ldns could not read it)"};
  if (!ldns_pkt_qr(pkt.get())) return Error{"DNS message from upstream is a query, not a response"};
  if (ldns_pkt_id(pkt.get()) != query.id) {
    // A mismatched id is either a stale answer or an off-path spoofing attempt.
    return Error{"DNS response id " + std::to_string(ldns_pkt_id(pkt.get())) + " does not match query id " +
                 std::to_string(query.id)};
  }
  // Read on the wire: an unassigned opcode has no ldns_pkt_opcode value.
  if (LDNS_OPCODE_WIRE(response.data()) != LDNS_PACKET_QUERY) return Error{"DNS response opcode is not QUERY"};

  DnsAnswer answer;
  answer.rcode = static_cast<std::uint8_t>(ldns_pkt_get_rcode(pkt.get()));
  answer.truncated = ldns_pkt_tc(pkt.get());

  RdfPtr current(ldns_dname_new_frm_data(static_cast<std::uint16_t>(query.wire_name.size()), query.wire_name.data()));
  if (!current) return Error{"cannot copy the query name"};

  const ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  const std::size_t qcount = ldns_rr_list_rr_count(questions);
  const ldns_rr_list* answers = ldns_pkt_answer(pkt.get());
  const std::size_t acount = ldns_rr_list_rr_count(answers);
  if (qcount == 0) {
    // Some servers drop the question from error answers; only then is it
    // acceptable, and such an answer carries nothing to cache.
    if (answer.rcode == LDNS_RCODE_NOERROR || acount != 0) {
      return Error{"DNS response carries records but no question"};
    }
  } else {
    const ldns_rr* q = ldns_rr_list_rr(questions, 0);
    if (qcount != 1 || ldns_dname_compare(ldns_rr_owner(q), current.get()) != 0 ||
        static_cast<std::uint16_t>(ldns_rr_get_type(q)) != query.qtype ||
        static_cast<std::uint16_t>(ldns_rr_get_class(q)) != query.qclass) {
      return Error{"DNS response question does not match the query for \"" + query.name + "\""};
    }
  }

  // Follow CNAMEs from the question's name; the TTL of an address is bounded
  // by every alias that led to it.
  std::uint32_t chain_ttl = UINT32_MAX;
  for (std::size_t hop = 0;; ++hop) {
    const ldns_rr* next = nullptr;
    for (std::size_t i = 0; i < acount; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(answers, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1 &&
          ldns_rr_get_class(rr) == static_cast<ldns_rr_class>(query.qclass) &&
          ldns_dname_compare(ldns_rr_owner(rr), current.get()) == 0) {
        next = rr;
        break;
      }
    }
    if (next == nullptr) break;
    if (hop == kMaxCnameHops) return Error{"CNAME chain for \"" + query.name + "\" is longer than 16 hops"};
    chain_ttl = std::min(chain_ttl, ldns_rr_ttl(next));
    current.reset(ldns_rdf_clone(ldns_rr_rdf(next, 0)));
    if (!current) return Error{"cannot copy a CNAME target"};
    bool unused = false;
    answer.cname_chain.push_back(presentation_name(current.get(), unused));
  }
  bool unused = false;
  answer.final_name = presentation_name(current.get(), unused);

  for (std::size_t i = 0; i < acount; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answers, i);
    const ldns_rr_type type = ldns_rr_get_type(rr);
    if ((type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA) || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
        ldns_rr_rd_count(rr) != 1 || ldns_dname_compare(ldns_rr_owner(rr), current.get()) != 0) {
      continue;
    }
    const ldns_rdf* rdata = ldns_rr_rdf(rr, 0);
    const std::size_t want = type == LDNS_RR_TYPE_A ? 4 : 16;
    if (rdata == nullptr || ldns_rdf_size(rdata) != want) return Error{"DNS address record of the wrong size"};
    DnsAddress address;
    address.family = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
    std::copy_n(ldns_rdf_data(rdata), want, address.bytes.begin());
    address.ttl = std::min(chain_ttl, ldns_rr_ttl(rr));
    answer.addresses.push_back(address);
  }
  return answer;
}

}  // namespace awf::intercept
